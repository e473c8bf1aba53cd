// Route records to shards with the consistent-hash ring of SPEC §7.
//
//   node examples/ring.mjs

import { Ring } from '@fractal-lba/client'

const ring = Ring.withShards([{ name: 'shard-a' }, { name: 'shard-b' }, { name: 'shard-c', weight: 2 }])
const keys = Array.from({ length: 1000 }, (_, i) => `pcs-${i}`)
console.log('pcs-1 →', ring.pick('pcs-1'), '; replicas', ring.pickN('pcs-1', 2))

const after = Ring.withShards([...ring.shards(), { name: 'shard-d' }])
const moves = ring.plan(after, keys)
console.log(`adding shard-d moves ${moves.length} of ${keys.length} keys, all to`, [...new Set(moves.map((m) => m.to))])

ring.setHealthy('shard-a', false)
console.log('with shard-a down, pcs-1 →', ring.pick('pcs-1'))
