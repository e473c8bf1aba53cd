// The examples are documentation: they must run and say what they claim.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const EXAMPLES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples')
const run = (file) => execFileSync(process.execPath, [path.join(EXAMPLES, file)], { encoding: 'utf8', env: { PATH: process.env.PATH } })

test('examples/sign_and_verify.mjs accepts its own record', () => {
  assert.match(run('sign_and_verify.mjs'), /accepted=true escalated=false/)
})

test('examples/errors.cjs shows the code, kind, field and index', () => {
  assert.equal(
    run('errors.cjs'),
    'ERR_INVALID_FIELD invalid_field epoch\ninvalid field `epoch`: expected an integer, got 1.5\nERR_INVALID_FIELD epoch 1\n',
  )
})

test('examples/ring.mjs moves keys only to the new shard', () => {
  assert.match(run('ring.mjs'), /all to \[ 'shard-d' \]/)
})
