"""Frame sources (pose_core.frame_sources): what the source node, the bag tool and the CLI read frames from."""
import cv2
import numpy as np

from pose_core.frame_sources import iter_frames


def test_frames_from_a_video_file_and_looping(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    frames = list(iter_frames(str(path)))
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)
    assert abs(int(frames[4].mean()) - 160) < 5                  # frames in order
    looped = iter_frames(str(path), loop=True, size=(32, 24))
    more = [next(looped) for _ in range(12)]
    assert len(more) == 12 and more[-1].shape == (24, 32, 3)
