"""dora.dev's software delivery performance levels, as thresholds on each measure.

DORA publishes its levels as ranges ("between once per day and once per week"; the Accelerate
State of DevOps reports, summarised at https://dora.dev/guides/dora-metrics-four-keys/ and in
https://dora.dev/quickcheck/). A measure exactly on a boundary takes the better level, as the
ranges are read ("less than one day" is elite below 24 h; one deploy a day is elite):

- deployment frequency: elite on demand (at least once a day), high at least once a week,
  medium at least once a month, else low;
- change lead time: elite under one day, high under one week, medium under one month, else low;
- change fail rate: elite at most 5 %, high at most 10 %, medium at most 15 %, else low (the
  2023 report's levels: the 2024 report's levels are not ordered by this measure, its high
  level at 20 % and its medium at 10 %, so they cannot classify a team on it alone);
- failed deployment recovery time: elite under one hour, high under one day, medium under one
  week, else low.

Deployment rework rate has no level: DORA added it in 2024 without publishing one.
"""

from __future__ import annotations

from typing import Final

ELITE: Final = "elite"
HIGH: Final = "high"
MEDIUM: Final = "medium"
LOW: Final = "low"

DAY_HOURS: Final = 24.0
WEEK_HOURS: Final = 7 * DAY_HOURS
MONTH_HOURS: Final = 30 * DAY_HOURS

# Deployments per day at or above which each level starts.
FREQUENCY_PER_DAY: Final = ((ELITE, 1.0), (HIGH, 1 / 7), (MEDIUM, 1 / 30))
# Hours below which each level ends.
LEAD_TIME_HOURS: Final = ((ELITE, DAY_HOURS), (HIGH, WEEK_HOURS), (MEDIUM, MONTH_HOURS))
RECOVERY_HOURS: Final = ((ELITE, 1.0), (HIGH, DAY_HOURS), (MEDIUM, WEEK_HOURS))
# Fail ratios at or below which each level ends.
CHANGE_FAIL_RATIO: Final = ((ELITE, 0.05), (HIGH, 0.10), (MEDIUM, 0.15))


def frequency_band(per_day: float | None) -> str | None:
    if per_day is None:
        return None
    return next((band for band, least in FREQUENCY_PER_DAY if per_day >= least), LOW)


def lead_time_band(hours: float | None) -> str | None:
    if hours is None:
        return None
    return next((band for band, below in LEAD_TIME_HOURS if hours < below), LOW)


def recovery_band(hours: float | None) -> str | None:
    if hours is None:
        return None
    return next((band for band, below in RECOVERY_HOURS if hours < below), LOW)


def change_fail_band(ratio: float | None) -> str | None:
    if ratio is None:
        return None
    return next((band for band, most in CHANGE_FAIL_RATIO if ratio <= most), LOW)
