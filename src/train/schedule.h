/* Learning-rate schedules stepped once per epoch after training, as train_ssd.py
 * steps them: epoch e trains with factor(e) times each group's base rate. */
#ifndef SSD_TRAIN_SCHEDULE_H
#define SSD_TRAIN_SCHEDULE_H

#include <stdbool.h>

/* CosineAnnealingLR(T_max, eta_min=0): (1 + cos(pi * e / T_max)) / 2. */
double ssd_schedule_cosine(int epoch, double t_max);
/* MultiStepLR: gamma ^ (number of milestones <= epoch). */
double ssd_schedule_multistep(int epoch, const int *milestones, int n, double gamma);

#endif
