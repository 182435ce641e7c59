// ocr_image FILE.png [X Y W H]: what Deja's text recogniser (preprocessing and Tesseract, as
// the recorder runs it) reads in an image or one region of it, a line per text line with its
// box and confidence. For looking into a word the index missed.
#include <cstdio>
#include <cstdlib>

#include "display/TextRecognizer.h"
#include "display/VideoReader.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 6) {
    std::fprintf(stderr, "usage: %s FILE.png [X Y W H]\n", argv[0]);
    return 2;
  }
  try {
    std::optional<deja::display::DecodedFrame> image = deja::display::VideoReader(argv[1]).next();
    if (!image) throw std::runtime_error(std::string(argv[1]) + " holds no image");
    deja::display::Rect region{0, 0, image->frame.width, image->frame.height};
    if (argc == 6)
      region = {std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5])};
    deja::display::TextRecognizer ocr;
    for (const auto& line : ocr.recognize(image->frame, region))
      std::printf("(%d,%d %dx%d) %.0f  %s\n", line.box.x, line.box.y, line.box.w, line.box.h,
                  double(line.confidence), line.text.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ocr_image: %s\n", e.what());
    return 1;
  }
  return 0;
}
