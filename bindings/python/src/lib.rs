//! Python bindings of fractal-core (work in progress in this commit).
