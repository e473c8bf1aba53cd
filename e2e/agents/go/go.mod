module github.com/fractal-lba/fractal-lba/e2e/agents/go

go 1.19

require github.com/fractal-lba/fractal-lba/bindings/go v0.0.0

replace github.com/fractal-lba/fractal-lba/bindings/go => ../../../bindings/go
