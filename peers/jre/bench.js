// json-rules-engine's side of the peer benchmark: the key-account and stage
// rules (rules/*.json) run on the prepared inputs, their events combined the
// way dealflow combines rule results.
//
// Each input line is parsed into a plain object (the facts) before the clock
// starts; only engine.run and combining its events are timed. The runs are
// awaited one after another on node's single thread.
//
//   node bench.js [--work ../work] [--min-passes 2] [--min-seconds 3]

'use strict'

const fs = require('fs')
const path = require('path')
const { Engine } = require('json-rules-engine')

const STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost']
const CLOSED = new Set(['won', 'lost'])

function args () {
  const a = { work: path.join(__dirname, '..', 'work'), minPasses: 2, minSeconds: 3 }
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1]
    if (value === undefined) die(`${argv[i]} needs a value`)
    if (argv[i] === '--work') a.work = value
    else if (argv[i] === '--min-passes') a.minPasses = Number(value)
    else if (argv[i] === '--min-seconds') a.minSeconds = Number(value)
    else die(`unknown argument ${argv[i]}`)
  }
  return a
}

function die (msg) {
  console.error(`jre-peer: ${msg}`)
  process.exit(1)
}

function readLines (file) {
  const out = []
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line) out.push(JSON.parse(line))
  }
  return out
}

// Paths like "activities.meeting" read as plain property lookups: the engine's
// documented pathResolver option, in place of its default JSONPath evaluator.
function pathResolver (object, dotted) {
  let v = object
  for (const k of dotted.split('.')) v = v == null ? undefined : v[k]
  return v
}

function engineFor (file) {
  const rules = JSON.parse(fs.readFileSync(path.join(__dirname, 'rules', file), 'utf8'))
  return { engine: new Engine(rules, { pathResolver }), names: rules.map(r => r.name) }
}

function digest (codes) {
  let h = 2166136261
  for (const c of codes) h = Math.imul(h ^ c, 16777619) >>> 0
  return h.toString(16).padStart(8, '0')
}

// decide_key: key when some rule says key and none says not_key; the reason
// is the first key rule's (in the order the rules are written).
async function decideKey (engine, account) {
  const { events } = await engine.run(account)
  let yes = null
  let veto = null
  for (const e of events) {
    if (e.type === 'key' && (!yes || e.params.order < yes.order)) yes = e.params
    if (e.type === 'not_key' && (!veto || e.params.order < veto.order)) veto = e.params
  }
  if (veto) return 100 + veto.order - 1
  if (yes) return yes.order
  return 0
}

// decide_stage: a closed deal nobody asks to move is left alone; one refusal
// stops a requested move; a request not refused is carried out; without a
// request the first rule's move wins.
async function decideStage (engine, deal) {
  const requested = deal.requested_stage
  if (requested === null && CLOSED.has(deal.stage)) return 1
  const { events } = await engine.run(deal)
  let move = null
  let refusal = null
  for (const e of events) {
    if (e.type === 'refuse' && (!refusal || e.params.order < refusal.order)) refusal = e.params
    if (e.type === 'move' && e.params.stage !== deal.stage && (!move || e.params.order < move.order)) move = e.params
  }
  if (requested !== null && refusal) return 30 + STAGES.indexOf(requested)
  if (requested !== null) return 20 + STAGES.indexOf(requested)
  if (move) return 10 + STAGES.indexOf(move.stage)
  return 0
}

// Passes over all inputs: at least minPasses, and more until minSeconds of
// timed work; the best pass counts.
async function timed (inputs, a, decide) {
  let best = null
  let bestCpu = Infinity
  let total = 0
  let passes = 0
  while (passes < Math.max(1, a.minPasses) || (total < a.minSeconds && passes < 1000)) {
    const codes = new Array(inputs.length)
    const started = process.hrtime.bigint()
    const cpuStarted = process.cpuUsage()
    for (let i = 0; i < inputs.length; i++) codes[i] = await decide(inputs[i])
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = process.cpuUsage(cpuStarted)
    bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1e6)
    total += seconds
    passes++
    if (best && digest(best.codes) !== digest(codes)) die('passes disagree')
    if (!best || seconds < best.seconds) best = { codes, seconds }
  }
  best.passes = passes
  best.cpuSeconds = bestCpu
  return best
}

function report (decision, r, totals) {
  const n = r.codes.length
  console.log(JSON.stringify({
    engine: 'jre',
    decision,
    inputs: n,
    passes: r.passes,
    seconds: r.seconds,
    evals_per_s: n / r.seconds,
    cpu_seconds: r.cpuSeconds,
    evals_per_cpu_s: n / r.cpuSeconds,
    errors: 0,
    digest: digest(r.codes),
    totals
  }))
}

function keyTotals (codes, names) {
  const key = Object.fromEntries(names.map(n => [n, 0]))
  let notKey = 0
  let vetoed = 0
  for (const c of codes) {
    if (c === 0) notKey++
    else if (c < 100) key[names[c - 1]]++
    else vetoed++
  }
  return { key, not_key: notKey, vetoed }
}

function stageTotals (codes) {
  const t = { moved_by_rule: {}, moved_on_request: {}, refused: {}, unchanged: 0, closed_left_alone: 0 }
  const bump = (m, s) => { m[s] = (m[s] || 0) + 1 }
  for (const c of codes) {
    if (c === 0) t.unchanged++
    else if (c === 1) t.closed_left_alone++
    else if (c < 20) bump(t.moved_by_rule, STAGES[c - 10])
    else if (c < 30) bump(t.moved_on_request, STAGES[c - 20])
    else bump(t.refused, STAGES[c - 30])
  }
  return t
}

async function main () {
  const a = args()
  const key = engineFor('key_accounts.json')
  let accounts = readLines(path.join(a.work, 'accounts.jsonl'))
  let r = await timed(accounts, a, acc => decideKey(key.engine, acc))
  report('key', r, keyTotals(r.codes, key.names))
  accounts = null

  const stage = engineFor('stages.json')
  const deals = readLines(path.join(a.work, 'deals.jsonl'))
  r = await timed(deals, a, deal => decideStage(stage.engine, deal))
  report('stage', r, stageTotals(r.codes))
}

main().catch(e => die(e.stack || String(e)))
