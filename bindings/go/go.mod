module github.com/fractal-lba/fractal-lba/bindings/go

go 1.19
