#!/usr/bin/env bash
# Installability: `npm pack` the package, install the tarball into a fresh
# directory outside the repository (offline: it has no runtime dependencies),
# and run the CommonJS and ESM smoke tests from there.
set -euo pipefail
pkg="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

tgz="$(cd "$pkg" && npm pack --silent --pack-destination "$tmp" | tail -n 1)"
echo "packed $tgz: $(tar -tzf "$tmp/$tgz" | tr '\n' ' ')"
mkdir "$tmp/app"
cp "$pkg/test/smoke.cjs" "$pkg/test/smoke.mjs" "$tmp/app/"
cd "$tmp/app"
printf '{ "name": "smoke-app", "version": "1.0.0", "private": true }\n' > package.json
npm install --offline --no-audit --no-fund --loglevel=error "$tmp/$tgz"
for f in smoke.cjs smoke.mjs; do
  out="$(node "$f")"
  echo "$out"
  # The package must come from the installed tarball, not from the repository.
  case "$out" in
    *"$tmp/app/node_modules/@fractal-lba/client/"*) ;;
    *) echo "pack-smoke: $f loaded the package from outside the install directory" >&2; exit 1 ;;
  esac
done
# Without a fitting addon the generated loader must fail loudly, not half-load.
rm node_modules/@fractal-lba/client/*.node
node -e '
try { require("@fractal-lba/client") } catch (e) {
  if (!/Cannot find native binding/.test(e.message)) throw e
  console.log("without its addon: " + e.message.split("\n")[0])
  process.exit(0)
}
console.error("pack-smoke: the package loaded without its addon"); process.exit(1)'
echo "pack-smoke: the packed tarball installs and works from $tmp/app"
