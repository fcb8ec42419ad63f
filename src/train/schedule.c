#include "train/schedule.h"

#include <math.h>

double ssd_schedule_cosine(int epoch, double t_max) {
    return (1.0 + cos(M_PI * epoch / t_max)) / 2.0;
}

double ssd_schedule_multistep(int epoch, const int *milestones, int n, double gamma) {
    int passed = 0;
    for (int i = 0; i < n; i++)
        if (milestones[i] <= epoch) passed++;
    return pow(gamma, passed);
}
