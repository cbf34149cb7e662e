"""The frame clock with a fake time function: no sleeps."""

from app.clock import FakeTime, FrameClock


def test_paces_to_frame_boundaries() -> None:
    fake = FakeTime(100.0)
    clock = FrameClock(fake, fake.sleep)
    clock.start()
    assert clock.time() == 0.0
    fake.advance(0.010)
    assert abs(clock.wait_next_frame(25.0) - 0.04) < 1e-9
    fake.advance(0.001)
    assert abs(clock.wait_next_frame(25.0) - 0.08) < 1e-9


def test_skips_missed_frames_instead_of_bursting() -> None:
    fake = FakeTime()
    clock = FrameClock(fake, fake.sleep)
    clock.start()
    fake.advance(0.5)  # a long stall: 12 frames late at 25 fps
    t = clock.wait_next_frame(25.0)
    assert abs(t - 0.52) < 1e-9  # the next boundary after now, not frame 1
    t2 = clock.wait_next_frame(25.0)
    assert abs(t2 - t - 0.04) < 1e-9
