"""An image folder with one real PNG and a symlink, named like an image, to a FIFO in the same folder."""
import os

from PIL import Image


def make(folder):
    images = folder / "images"
    images.mkdir()
    Image.new("RGB", (8, 8), "white").save(images / "real.png")
    os.mkfifo(images / ".pipe")  # hidden, so only the symlink to it is listed
    os.symlink(images / ".pipe", images / "looks-like.png")
