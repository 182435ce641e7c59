"""Reads an Xvfb framebuffer file (Xvfb -fbdir: an XWD image that Xvfb keeps up to date) so
tests can look at a screen as it is now, their own viewer's screen included."""

import mmap
import struct


class XwdScreen:
    def __init__(self, path):
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, prot=mmap.PROT_READ)
        fields = struct.unpack(">25I", self._map[:100])
        header_size, width, height = fields[0], fields[4], fields[5]
        self.bits_per_pixel, self.stride, ncolors = fields[11], fields[12], fields[19]
        if self.bits_per_pixel != 32:
            raise ValueError(f"{path}: only 32-bit framebuffers are read here")
        self.width, self.height = width, height
        self.offset = header_size + ncolors * 12

    def close(self):
        self._map.close()
        self._file.close()

    def row(self, y, x=0, width=None):
        """Pixels of row y from x on, as bytes (B, G, R, X per pixel)."""
        width = self.width - x if width is None else width
        start = self.offset + y * self.stride + x * 4
        return self._map[start:start + width * 4]

    def region(self, x, y, width, height):
        return b"".join(self.row(yy, x, width) for yy in range(y, y + height))

    def pixel(self, x, y):
        b, g, r, _ = self.row(y, x, 1)
        return r, g, b

    def count_near(self, colour, x, y, width, height, tolerance=30):
        """Pixels of the region within `tolerance` of `colour` (RGB) in each channel."""
        r0, g0, b0 = colour
        data = self.region(x, y, width, height)
        return sum(1 for i in range(0, len(data), 4)
                   if abs(data[i + 2] - r0) < tolerance and abs(data[i + 1] - g0) < tolerance
                   and abs(data[i] - b0) < tolerance)
