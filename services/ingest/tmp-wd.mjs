import { validateOrder, OrderSchema } from '@orderwire/contracts';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
const text = JSON.stringify({ orderId: `bench-1`, storeId: 'store-bench', station: 'grill', items: [{ name: 'Burger', qty: 2, modifiers: ['no onions'] }, { name: 'Fries', qty: 1 }], createdAt: new Date().toISOString() });
const N = 200000;
const chk = TypeCompiler.Compile(OrderSchema);
const bodies = Array.from({ length: N }, () => JSON.parse(text));
const DEF = [['priority', 'normal'], ['metadata', {}]];
const wdCur = (value) => { if (Object.hasOwn(value, '__proto__')) throw 1; const copy = { ...value }; for (const [key, fallback] of DEF) { const given = copy[key]; if (given === undefined) copy[key] = Value.Clone(fallback); else if (typeof given === 'object' && given !== null && typeof fallback === 'object' && fallback !== null) copy[key] = Object.assign(Value.Clone(fallback), given); } return copy; };
const bench = (name, f) => { const t = process.cpuUsage(); for (let i = 0; i < N; i++) f(bodies[i]); const d = process.cpuUsage(t); console.log(name.padEnd(12), ((d.user + d.system) * 1000 / N).toFixed(0)); };
for (let r = 0; r < 3; r++) {
  bench('validate', (b) => validateOrder(b));
  bench('wdCur', wdCur);
  bench('spread', (b) => ({ ...b }));
  bench('clone{}', () => Value.Clone({}));
  bench('check', (b) => chk.Check(wdCur(b)));
}
console.log('--');
for (let r = 0; r < 2; r++) {
  bench('hasOwn', (b) => Object.hasOwn(b, '__proto__'));
  bench('clone"n"', () => Value.Clone('normal'));
  bench('sp+2set', (b) => { const c = { ...b }; c.priority = 'normal'; c.metadata = {}; return c; });
  bench('sp+loop', (b) => { const c = { ...b }; for (const [k, f] of DEF) { if (c[k] === undefined) c[k] = typeof f === 'object' ? {} : f; } return c; });
}
console.log('--');
for (let r = 0; r < 3; r++) {
  bench('assign+2set', (b) => { const c = Object.assign({}, b); c.priority = 'normal'; c.metadata = {}; return c; });
  bench('forin+2set', (b) => { const c = {}; for (const k in b) c[k] = b[k]; c.priority = 'normal'; c.metadata = {}; return c; });
  bench('assign+chk', (b) => { const c = Object.assign({}, b); c.priority = 'normal'; c.metadata = {}; return chk.Check(c); });
}
