//! Scenarios across multiproc crates (not published). The tests are in `tests/`; helper
//! binaries that play unrelated programs are in `src/bin/`.
