"""The elapsed-time format shared by the training status line and the metric records."""

from ganforge.progress import format_time


def test_format_time_as_the_official_status_line() -> None:
    assert format_time(4.6) == "5s"
    assert format_time(65) == "1m 05s"
    assert format_time(3725) == "1h 02m 05s"
    assert format_time(90061) == "1d 01h 01m"
