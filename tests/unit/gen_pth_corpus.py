"""Copies the .pth fuzz corpus (tests/fuzz/corpus_pth) into the fixture directory
together with its file list, for test_pth_corpus."""
import os
import shutil
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus_pth")


def main(d):
    os.makedirs(d, exist_ok=True)
    names = sorted(os.listdir(SRC))
    for n in names:
        shutil.copy(os.path.join(SRC, n), d)
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))


if __name__ == "__main__":
    main(sys.argv[1])
