"""English formats: Django's own, with times on the 24-hour clock as in Chile (Nov. 22, 2026, 15:30)."""

DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATETIME_FORMAT = "m/d/Y H:i"
