// ocr_image FILE [X Y W H]: what Deja's text recogniser (preprocessing and Tesseract, as
// the recorder runs it) reads in an image or one region of it, a line per text line with its
// box and confidence, and what else is indexed for it (other readings, split words joined).
// For looking into a word the index missed. FILE is a PNG (or anything
// the video reader opens) or a live Xvfb framebuffer file (`Xvfb -fbdir DIR`: DIR/Xvfb_screen0).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "display/TextRecognizer.h"
#include "display/VideoReader.h"
#include "display/XwdFramebuffer.h"

namespace {

using deja::display::Frame;

bool is_framebuffer(const std::string& path) {
  return path.size() >= 12 && path.compare(path.size() - 12, 12, "Xvfb_screen0") == 0;
}

Frame read_image(const std::string& path) {
  if (is_framebuffer(path)) {
    deja::display::XwdFramebuffer fb(path);
    Frame f(fb.width(), fb.height());
    for (int y = 0; y < f.height; ++y)
      std::memcpy(f.row(y), fb.pixels() + size_t(y) * fb.stride(), f.stride());
    return f;
  }
  std::optional<deja::display::DecodedFrame> image = deja::display::VideoReader(path).next();
  if (!image) throw std::runtime_error(path + " holds no image");
  return std::move(image->frame);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 6) {
    std::fprintf(stderr, "usage: %s FILE.png|DIR/Xvfb_screen0 [X Y W H]\n", argv[0]);
    return 2;
  }
  try {
    const Frame frame = read_image(argv[1]);
    deja::display::Rect region{0, 0, frame.width, frame.height};
    if (argc == 6)
      region = {std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5])};
    deja::display::TextRecognizer ocr;
    for (const auto& line : ocr.recognize(frame, region))
      std::printf("(%d,%d %dx%d) %.0f  %s%s%s\n", line.box.x, line.box.y, line.box.w,
                  line.box.h, double(line.confidence), line.text.c_str(),
                  line.joined.empty() ? "" : "  | also indexed: ", line.joined.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ocr_image: %s\n", e.what());
    return 1;
  }
  return 0;
}
