//! The readers, format by format, on real and faithfully shaped files.
