// A safe evaluator for `bantime.formula`. Fail2Ban evals the formula as Python; we must never eval
// config text, so this parses the small Python expression subset such formulas use (arithmetic, shifts,
// comparisons, `a if c else b`, and/or/not, math.* calls) into closures over three variables:
// ban.Time, ban.Count and banFactor. No library does "Python expression subset, no eval" for us.

export interface FormulaVars {
  time: number;
  count: number;
  factor: number;
}

export type Formula = (vars: FormulaVars) => number;

export class FormulaError extends Error {}

type Node = (v: FormulaVars) => number;

const VARIABLES: Record<string, Node> = {
  'ban.Time': (v) => v.time,
  'ban.Count': (v) => v.count,
  banFactor: (v) => v.factor,
  'math.e': () => Math.E,
  'math.pi': () => Math.PI,
  True: () => 1,
  False: () => 0,
};

const FUNCTIONS: Record<string, (args: number[]) => number> = {
  'math.exp': (a) => Math.exp(a[0] ?? Number.NaN),
  'math.log': (a) => (a.length > 1 ? Math.log(a[0] ?? Number.NaN) / Math.log(a[1] ?? Number.NaN) : Math.log(a[0] ?? Number.NaN)),
  'math.log2': (a) => Math.log2(a[0] ?? Number.NaN),
  'math.log10': (a) => Math.log10(a[0] ?? Number.NaN),
  'math.pow': (a) => (a[0] ?? Number.NaN) ** (a[1] ?? Number.NaN),
  'math.sqrt': (a) => Math.sqrt(a[0] ?? Number.NaN),
  'math.floor': (a) => Math.floor(a[0] ?? Number.NaN),
  'math.ceil': (a) => Math.ceil(a[0] ?? Number.NaN),
  min: (a) => Math.min(...a),
  max: (a) => Math.max(...a),
  abs: (a) => Math.abs(a[0] ?? Number.NaN),
  float: (a) => a[0] ?? Number.NaN,
  int: (a) => Math.trunc(a[0] ?? Number.NaN),
  round: (a) => Math.round(a[0] ?? Number.NaN),
};

const TOKEN = /\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(\*\*|\/\/|<<|>>|<=|>=|==|!=|[-+*/%()<>,~&|^]))/y;

/** Compiles a formula; throws FormulaError naming the problem for anything outside the subset. */
export function compileFormula(source: string): Formula {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const take = (expected?: string): string => {
    const t = tokens[pos];
    if (t === undefined || (expected !== undefined && t !== expected)) {
      throw new FormulaError(`expected ${expected ?? 'a value'} but found ${t ?? 'the end'} in "${source}"`);
    }
    pos++;
    return t;
  };

  const conditional = (): Node => {
    const body = orExpr();
    if (peek() !== 'if') return body;
    take('if');
    const test = orExpr();
    take('else');
    const other = conditional();
    return (v) => (test(v) ? body(v) : other(v));
  };
  const orExpr = (): Node => {
    let left = andExpr();
    while (peek() === 'or') {
      take();
      const a = left;
      const b = andExpr();
      left = (v) => a(v) || b(v);
    }
    return left;
  };
  const andExpr = (): Node => {
    let left = notExpr();
    while (peek() === 'and') {
      take();
      const a = left;
      const b = notExpr();
      left = (v) => a(v) && b(v);
    }
    return left;
  };
  const notExpr = (): Node => {
    if (peek() !== 'not') return comparison();
    take();
    const a = notExpr();
    return (v) => (a(v) ? 0 : 1);
  };
  const COMPARE: Record<string, (a: number, b: number) => boolean> = {
    '<': (a, b) => a < b,
    '<=': (a, b) => a <= b,
    '>': (a, b) => a > b,
    '>=': (a, b) => a >= b,
    '==': (a, b) => a === b,
    '!=': (a, b) => a !== b,
  };
  const comparison = (): Node => {
    const first = binary(0);
    const ops: Array<[(a: number, b: number) => boolean, Node]> = [];
    for (let op = peek(); op !== undefined && Object.hasOwn(COMPARE, op); op = peek()) {
      take();
      ops.push([COMPARE[op]!, binary(0)]);
    }
    if (ops.length === 0) return first;
    // Python chains comparisons: a < b < c means a < b and b < c.
    return (v) => {
      let left = first(v);
      for (const [cmp, node] of ops) {
        const right = node(v);
        if (!cmp(left, right)) return 0;
        left = right;
      }
      return 1;
    };
  };
  // Binary operators from loosest to tightest, as Python ranks them.
  const LEVELS: Array<Record<string, (a: number, b: number) => number>> = [
    { '|': (a, b) => Number(BigInt(Math.trunc(a)) | BigInt(Math.trunc(b))) },
    { '^': (a, b) => Number(BigInt(Math.trunc(a)) ^ BigInt(Math.trunc(b))) },
    { '&': (a, b) => Number(BigInt(Math.trunc(a)) & BigInt(Math.trunc(b))) },
    { '<<': (a, b) => Math.trunc(a) * 2 ** Math.trunc(b), '>>': (a, b) => Math.floor(Math.trunc(a) / 2 ** Math.trunc(b)) },
    { '+': (a, b) => a + b, '-': (a, b) => a - b },
    {
      '*': (a, b) => a * b,
      '/': (a, b) => a / b,
      '//': (a, b) => Math.floor(a / b),
      '%': (a, b) => a - b * Math.floor(a / b),
    },
  ];
  const binary = (level: number): Node => {
    const ops = LEVELS[level];
    if (ops === undefined) return unary();
    let left = binary(level + 1);
    for (let op = peek(); op !== undefined && Object.hasOwn(ops, op); op = peek()) {
      take();
      const fn = ops[op]!;
      const a = left;
      const b = binary(level + 1);
      left = (v) => fn(a(v), b(v));
    }
    return left;
  };
  const unary = (): Node => {
    const op = peek();
    if (op === '-' || op === '+' || op === '~') {
      take();
      const a = unary();
      if (op === '-') return (v) => -a(v);
      if (op === '~') return (v) => -Math.trunc(a(v)) - 1;
      return a;
    }
    return power();
  };
  const power = (): Node => {
    const base = atom();
    if (peek() !== '**') return base;
    take();
    const exp = unary();
    return (v) => base(v) ** exp(v);
  };
  const atom = (): Node => {
    const t = take();
    if (t === '(') {
      const inner = conditional();
      take(')');
      return inner;
    }
    if (/^[\d.]/.test(t)) {
      const n = Number(t);
      return () => n;
    }
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        const fn = Object.hasOwn(FUNCTIONS, t) ? FUNCTIONS[t] : undefined;
        if (fn === undefined) throw new FormulaError(`unknown function ${t} in "${source}"`);
        take('(');
        const args: Node[] = [];
        if (peek() !== ')') {
          args.push(conditional());
          while (peek() === ',') {
            take();
            args.push(conditional());
          }
        }
        take(')');
        return (v) => fn(args.map((a) => a(v)));
      }
      const variable = Object.hasOwn(VARIABLES, t) ? VARIABLES[t] : undefined;
      if (variable === undefined) {
        throw new FormulaError(`unknown name ${t} in "${source}" (known: ban.Time, ban.Count, banFactor, math.*)`);
      }
      return variable;
    }
    throw new FormulaError(`unexpected ${t} in "${source}"`);
  };

  const root = conditional();
  if (pos !== tokens.length) throw new FormulaError(`unexpected ${tokens[pos]} in "${source}"`);
  return root;
}

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const start = TOKEN.lastIndex;
    const m = TOKEN.exec(source);
    if (m === null) throw new FormulaError(`cannot read "${source.slice(start).trim()}" in formula "${source}"`);
    tokens.push(m[1] ?? m[2] ?? m[3] ?? '');
  }
  if (tokens.length === 0) throw new FormulaError('empty formula');
  return tokens;
}
