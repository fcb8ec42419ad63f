/* TensorBoard event files: what the writer puts down, our reader gets back
 * (tags, steps, values, CRCs), and a damaged file is an error, not a crash. */
#include "test.h"

#include "core/fileio.h"
#include "core/mem.h"
#include "train/tensorboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    char dir[] = "/tmp/ssd_tb_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    ssd_tb_writer w;
    REQUIRE_OK(ssd_tb_open(&w, dir));
    const char *tags[] = {"Loss/train", "Regression Loss/train", "Classification Loss/val",
                          "Class Average Precision/plate"};
    for (int e = 0; e < 5; e++)
        for (int t = 0; t < 4; t++) CHECK_OK(ssd_tb_scalar(&w, tags[t], e, 1.5f * e + t));
    char *path = ssd_strdup(w.path);
    ssd_tb_close(&w);

    ssd_tb_scalar_event *ev = NULL;
    int n = 0;
    CHECK_OK(ssd_tb_read(path, &ev, &n));
    CHECK(n == 20);
    for (int i = 0; i < n && i < 20; i++) {
        CHECK(strcmp(ev[i].tag, tags[i % 4]) == 0);
        CHECK(ev[i].step == i / 4);
        CHECK(ev[i].value == 1.5f * (i / 4) + i % 4);
        CHECK(ev[i].wall_time > 1e9);
    }
    ssd_free(ev);
    /* CRC-32C check value (RFC 3720 test vector: 32 zero bytes). */
    uint8_t zeros[32] = {0};
    CHECK(ssd_crc32c(0, zeros, 32) == 0x8a9136aa);

    /* flip one byte in every position of the first scalar record: an error, never a crash */
    uint8_t *data;
    size_t len;
    REQUIRE_OK(ssd_file_read_all(path, &data, &len));
    int errors = 0;
    for (size_t i = 0; i < len && i < 200; i++) {
        data[i] ^= 0x5a;
        ssd_file_write_atomic(path, data, len);
        if (ssd_tb_read(path, &ev, &n) != SSD_OK) {
            errors++;
            CHECK(strstr(ssd_error_message(), path) != NULL);
        } else {
            ssd_free(ev);
        }
        data[i] ^= 0x5a;
    }
    CHECK(errors > 150); /* every byte is covered by a length or data CRC */
    /* truncation */
    ssd_file_write_atomic(path, data, len - 3);
    CHECK(ssd_tb_read(path, &ev, &n) == SSD_E_FORMAT);
    ssd_free(data);
    unlink(path);
    rmdir(dir);
    ssd_free(path);
    return test_finish();
}
