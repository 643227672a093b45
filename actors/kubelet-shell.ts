/**
 * A very small POSIX-shell subset for simulated containers: enough for the scripts Kubernetes
 * examples put in `command` / `args` and exec probes, e.g.
 *
 *   sh -c 'touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600'   (liveness example)
 *   sh -c 'while true; do echo "$(date) hello"; sleep 10; done'
 *   sh -c 'i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done; exit 3'
 *   cat /tmp/healthy                                                     (exec probe)
 *
 * Supported: `;` `&&` `||` `|` newlines, quotes, `$VAR` `${VAR}` `$?` `$(cmd)` `$((arith))`,
 * `> file` / `>> file` / `2>&1`, `while` / `until` / `for` / `if`, `{ }` and `( )` groups, and
 * the builtins echo, printf, sleep, exit, true, false, :, touch, rm, mkdir, cat, test / [,
 * date, hostname, env, printenv, yes. Other commands are simulated binaries that succeed
 * silently (there is no network and no real filesystem).
 *
 * Scripts run as generators: a `sleep` yields `{sleepMs}` and the caller resumes the script
 * when its timer fires (virtual time on the simulator); a loop iteration that did not sleep
 * yields `{spin}` so the caller can charge a slice of CPU (a busy loop burns a core). Files
 * live in a `VirtualFs`; a path the script never touched counts as present (it is part of the
 * image), so probes like `cat /usr/share/nginx/html/index.html` pass.
 */

// ---------------------------------------------------------------------------------------------
// Syntax

type Part = { lit: string } | { var: string } | { sub: string } | { arith: string };
interface Word {
  parts: Part[];
  /** Any part was quoted: an empty expansion still makes an argument. */
  quoted: boolean;
}

type Op = ';' | '&&' | '||' | '|' | '&' | '\n' | '>' | '>>' | '<' | '(' | ')' | '2>' | '2>>' | '>&' | '&>';
type Token = { t: 'word'; w: Word; raw: string } | { t: 'op'; v: Op };

export type ShellNode =
  | { t: 'list'; items: ShellNode[] }
  | { t: 'and' | 'or'; l: ShellNode; r: ShellNode }
  | { t: 'pipe'; cmds: ShellNode[] }
  | { t: 'simple'; words: Word[]; redirs: { op: Op; target: Word }[] }
  | { t: 'while'; cond: ShellNode; body: ShellNode; until: boolean }
  | { t: 'for'; name: string; words: Word[]; body: ShellNode }
  | { t: 'if'; branches: { cond: ShellNode; body: ShellNode }[]; otherwise?: ShellNode }
  | { t: 'group'; body: ShellNode };

export class ShellSyntaxError extends Error {
  constructor(message: string) {
    super(`sh: syntax error: ${message}`);
    this.name = 'ShellSyntaxError';
  }
}

/** Reads `$(...)` / `$((...))` text up to the matching parenthesis; returns the end index. */
function matchParen(src: string, open: number): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = open; i < src.length; i++) {
    const ch = src[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"') i++;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i;
  }
  throw new ShellSyntaxError('unterminated $(');
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let parts: Part[] = [];
  let raw = '';
  let quoted = false;
  let inWord = false;
  const lit = (s: string) => {
    const last = parts[parts.length - 1];
    if (last && 'lit' in last) last.lit += s;
    else parts.push({ lit: s });
  };
  const endWord = () => {
    if (inWord) out.push({ t: 'word', w: { parts, quoted }, raw });
    parts = [];
    raw = '';
    quoted = false;
    inWord = false;
  };
  /** `$...` at src[i]; returns the index after it. */
  const dollar = (j: number): number => {
    const next = src[j + 1];
    if (next === '(' && src[j + 2] === '(') {
      const end = matchParen(src, j + 1);
      parts.push({ arith: src.slice(j + 3, end - 1) });
      return end + 1;
    }
    if (next === '(') {
      const end = matchParen(src, j + 1);
      parts.push({ sub: src.slice(j + 2, end) });
      return end + 1;
    }
    if (next === '{') {
      const end = src.indexOf('}', j);
      if (end < 0) throw new ShellSyntaxError('unterminated ${');
      parts.push({ var: src.slice(j + 2, end).replace(/[:-].*$/, '') });
      return end + 1;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*|[?$#0-9])/.exec(src.slice(j + 1));
    if (!m) {
      lit('$');
      return j + 1;
    }
    parts.push({ var: m[1]! });
    return j + 1 + m[1]!.length;
  };
  while (i < src.length) {
    const ch = src[i]!;
    if (ch === '#' && !inWord) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      endWord();
      i++;
      continue;
    }
    if (ch === '\\' && src[i + 1] === '\n') {
      i += 2;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (!inWord && ch === '2' && src[i + 1] === '>') {
      // 2>&1, 2>> file, 2> file: stderr redirections (stderr goes to the log like stdout).
      const v: Op = src[i + 2] === '&' ? '>&' : src[i + 2] === '>' ? '2>>' : '2>';
      out.push({ t: 'op', v });
      i += v === '2>' ? 2 : 3;
      continue;
    }
    if (two === '&&' || two === '||' || two === '>>' || two === '&>' || two === '>&') {
      endWord();
      out.push({ t: 'op', v: two as Op });
      i += 2;
      continue;
    }
    if (';|&\n><()'.includes(ch)) {
      endWord();
      out.push({ t: 'op', v: ch as Op });
      i++;
      continue;
    }
    inWord = true;
    if (ch === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError('unterminated quoted string');
      lit(src.slice(i + 1, end));
      raw += src.slice(i, end + 1);
      quoted = true;
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new ShellSyntaxError('unterminated quoted string');
        const c = src[j]!;
        if (c === '"') break;
        if (c === '\\' && '"\\$`'.includes(src[j + 1] ?? '')) {
          lit(src[j + 1]!);
          j += 2;
        } else if (c === '$') j = dollar(j);
        else {
          lit(c);
          j++;
        }
      }
      raw += src.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === '\\') {
      lit(src[i + 1] ?? '');
      raw += src.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (ch === '$') {
      const j = dollar(i);
      raw += src.slice(i, j);
      i = j;
      continue;
    }
    lit(ch);
    raw += ch;
    i++;
  }
  endWord();
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token | undefined {
    return this.toks[this.i];
  }

  private isWord(v: string): boolean {
    const t = this.peek();
    return t?.t === 'word' && t.raw === v;
  }

  private isOp(...vs: Op[]): boolean {
    const t = this.peek();
    return t?.t === 'op' && vs.includes(t.v);
  }

  private expectWord(v: string): void {
    if (!this.isWord(v)) throw new ShellSyntaxError(`expected "${v}"`);
    this.i++;
  }

  private skipNewlines(): void {
    while (this.isOp('\n', ';')) this.i++;
  }

  parseProgram(): ShellNode {
    const n = this.parseList(new Set());
    if (this.i < this.toks.length) throw new ShellSyntaxError(`unexpected "${this.describe(this.peek()!)}"`);
    return n;
  }

  private describe(t: Token): string {
    return t.t === 'word' ? t.raw : t.v === '\n' ? 'newline' : t.v;
  }

  /** Commands separated by ; & and newlines, up to a stop keyword, `)` or `}` or the end. */
  private parseList(stop: Set<string>): ShellNode {
    const items: ShellNode[] = [];
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (!t || (t.t === 'op' && t.v === ')') || (t.t === 'word' && (stop.has(t.raw) || t.raw === '}'))) break;
      items.push(this.parseAndOr());
      if (this.isOp(';', '\n', '&')) this.i++;
      else break;
    }
    return items.length === 1 ? items[0]! : { t: 'list', items };
  }

  private parseAndOr(): ShellNode {
    let l = this.parsePipeline();
    while (this.isOp('&&', '||')) {
      const op = (this.toks[this.i++] as { v: Op }).v;
      while (this.isOp('\n')) this.i++;
      const r = this.parsePipeline();
      l = { t: op === '&&' ? 'and' : 'or', l, r };
    }
    return l;
  }

  private parsePipeline(): ShellNode {
    if (this.isWord('!')) this.i++;
    const cmds = [this.parseCommand()];
    while (this.isOp('|')) {
      this.i++;
      cmds.push(this.parseCommand());
    }
    return cmds.length === 1 ? cmds[0]! : { t: 'pipe', cmds };
  }

  private parseCommand(): ShellNode {
    const t = this.peek();
    if (!t) throw new ShellSyntaxError('unexpected end of script');
    if (t.t === 'op' && t.v === '(') {
      this.i++;
      const body = this.parseList(new Set());
      if (!this.isOp(')')) throw new ShellSyntaxError('expected ")"');
      this.i++;
      return { t: 'group', body };
    }
    if (t.t === 'word') {
      switch (t.raw) {
        case '{': {
          this.i++;
          const body = this.parseList(new Set());
          this.expectWord('}');
          return { t: 'group', body };
        }
        case 'while':
        case 'until': {
          this.i++;
          const cond = this.parseList(new Set(['do']));
          this.expectWord('do');
          const body = this.parseList(new Set(['done']));
          this.expectWord('done');
          return { t: 'while', cond, body, until: t.raw === 'until' };
        }
        case 'for': {
          this.i++;
          const name = this.peek();
          if (name?.t !== 'word') throw new ShellSyntaxError('expected a name after "for"');
          this.i++;
          const words: Word[] = [];
          if (this.isWord('in')) {
            this.i++;
            while (this.peek()?.t === 'word') words.push((this.toks[this.i++] as { w: Word }).w);
          }
          this.skipNewlines();
          this.expectWord('do');
          const body = this.parseList(new Set(['done']));
          this.expectWord('done');
          return { t: 'for', name: name.raw, words, body };
        }
        case 'if': {
          this.i++;
          const branches: { cond: ShellNode; body: ShellNode }[] = [];
          let otherwise: ShellNode | undefined;
          for (;;) {
            const cond = this.parseList(new Set(['then']));
            this.expectWord('then');
            const body = this.parseList(new Set(['elif', 'else', 'fi']));
            branches.push({ cond, body });
            if (this.isWord('elif')) {
              this.i++;
              continue;
            }
            if (this.isWord('else')) {
              this.i++;
              otherwise = this.parseList(new Set(['fi']));
            }
            this.expectWord('fi');
            break;
          }
          return otherwise ? { t: 'if', branches, otherwise } : { t: 'if', branches };
        }
      }
    }
    return this.parseSimple();
  }

  private parseSimple(): ShellNode {
    const words: Word[] = [];
    const redirs: { op: Op; target: Word }[] = [];
    for (;;) {
      const t = this.peek();
      if (!t) break;
      if (t.t === 'word') {
        if (words.length === 0 && ['do', 'done', 'then', 'fi', 'elif', 'else', '}'].includes(t.raw)) break;
        words.push(t.w);
        this.i++;
        continue;
      }
      if (['>', '>>', '<', '2>', '2>>', '>&', '&>'].includes(t.v)) {
        this.i++;
        const target = this.peek();
        if (target?.t !== 'word') throw new ShellSyntaxError(`expected a file after "${t.v}"`);
        this.i++;
        redirs.push({ op: t.v, target: target.w });
        continue;
      }
      break;
    }
    if (words.length === 0 && redirs.length === 0) {
      const t = this.peek();
      throw new ShellSyntaxError(t ? `unexpected "${this.describe(t)}"` : 'unexpected end of script');
    }
    return { t: 'simple', words, redirs };
  }
}

/** Parses a script; throws ShellSyntaxError. */
export function parseScript(src: string): ShellNode {
  return new Parser(tokenize(src)).parseProgram();
}

/** A command line given as argv (exec form), as one simple command. */
export function argvCommand(argv: string[]): ShellNode {
  return { t: 'simple', words: argv.map((a) => ({ parts: [{ lit: a }], quoted: true })), redirs: [] };
}

// ---------------------------------------------------------------------------------------------
// Files

/** Files a container's scripts created or removed; other paths count as part of the image. */
export class VirtualFs {
  private readonly files = new Map<string, string | null>();
  /** Bound on distinct paths and on bytes per file. */
  static readonly MAX_FILES = 256;
  static readonly MAX_FILE_BYTES = 64 * 1024;

  exists(path: string): boolean {
    const v = this.files.get(path);
    return v !== null;
  }

  /** Whether a script created or removed the path. */
  known(path: string): boolean {
    return this.files.has(path);
  }

  read(path: string): string | undefined {
    const v = this.files.get(path);
    return v === null ? undefined : (v ?? '');
  }

  write(path: string, text: string, append: boolean): void {
    if (!this.files.has(path) && this.files.size >= VirtualFs.MAX_FILES) return;
    const next = (append ? (this.files.get(path) ?? '') : '') + text;
    this.files.set(path, next.length > VirtualFs.MAX_FILE_BYTES ? next.slice(-VirtualFs.MAX_FILE_BYTES) : next);
  }

  remove(path: string): boolean {
    const had = this.exists(path);
    if (this.files.has(path) || this.files.size < VirtualFs.MAX_FILES) this.files.set(path, null);
    return had;
  }
}

// ---------------------------------------------------------------------------------------------
// Running

export type ShellYield = { sleepMs: number } | { spin: true };

/** `exit N` unwinds the script. */
export class ShellExit {
  constructor(readonly code: number) {}
}

export interface ShellEnv {
  vars: Map<string, string>;
  fs: VirtualFs;
  hostname: string;
  now(): number;
  /** Standard output and error (both go to the container log). */
  out(text: string): void;
  /** How many times the script slept (a loop that did not sleep spins). */
  sleeps: number;
  status: number;
}

const SHELL_NAMES = new Set(['sh', 'bash', 'ash', 'dash', 'zsh']);

/** Whether argv[0] names a shell. */
export function isShell(cmd: string | undefined): boolean {
  return cmd !== undefined && SHELL_NAMES.has(cmd.slice(cmd.lastIndexOf('/') + 1));
}

/** Builtins that make a command line a script rather than an unknown program. */
export const BUILTINS = new Set(['echo', 'printf', 'sleep', 'exit', 'true', 'false', ':', 'touch', 'rm', 'mkdir', 'cat', 'test', '[', 'date', 'hostname', 'env', 'printenv', 'yes']);

/** `date`'s default format in UTC: `Mon Jan  1 00:00:00 UTC 2024`. */
export function shellDate(ms: number): string {
  const d = new Date(ms);
  const s = d.toUTCString(); // "Mon, 01 Jan 2024 00:00:00 GMT"
  const m = /^(\w+), (\d+) (\w+) (\d+) ([\d:]+) GMT$/.exec(s);
  if (!m) return s;
  return `${m[1]} ${m[3]} ${m[2]!.replace(/^0/, ' ')} ${m[5]} UTC ${m[4]}`;
}

/** Seconds in `sleep`'s argument syntax (`5`, `0.5`, `2m`, `infinity`) as ms; NaN if invalid. */
function sleepMs(arg: string): number {
  if (arg === 'inf' || arg === 'infinity') return Number.POSITIVE_INFINITY;
  const m = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(arg);
  if (!m) return NaN;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]!]!;
  return Number(m[1]) * unit * 1000;
}

/** Integer arithmetic for `$(( ))`: + - * / % and parentheses, variables by name. */
function arith(expr: string, vars: Map<string, string>): number {
  const toks = expr.match(/\d+|[A-Za-z_][A-Za-z0-9_]*|[-+*/%()]/g) ?? [];
  let i = 0;
  const primary = (): number => {
    const t = toks[i++];
    if (t === undefined) return 0;
    if (t === '(') {
      const v = sum();
      i++;
      return v;
    }
    if (t === '-') return -primary();
    if (t === '+') return primary();
    if (/^\d+$/.test(t)) return Number(t);
    return Number(vars.get(t) ?? 0) || 0;
  };
  const product = (): number => {
    let v = primary();
    while (toks[i] === '*' || toks[i] === '/' || toks[i] === '%') {
      const op = toks[i++];
      const r = primary();
      v = op === '*' ? v * r : r === 0 ? 0 : op === '/' ? Math.trunc(v / r) : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (toks[i] === '+' || toks[i] === '-') {
      const op = toks[i++];
      const r = product();
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  return sum();
}

/** Runs a script to completion without sleeping (command substitution, exec probes). */
export function runSync(node: ShellNode, env: ShellEnv, maxSteps = 10_000): number {
  const gen = exec(node, env);
  try {
    for (let steps = 0; steps < maxSteps; steps++) {
      const r = gen.next();
      if (r.done) return r.value;
      if ('spin' in r.value) return 124; // a busy loop: the probe times out
    }
    return 124;
  } catch (err) {
    if (err instanceof ShellExit) return err.code;
    throw err;
  }
}

function expandWord(w: Word, env: ShellEnv): string {
  let s = '';
  for (const p of w.parts) {
    if ('lit' in p) s += p.lit;
    else if ('var' in p) {
      if (p.var === '?') s += String(env.status);
      else if (p.var === '$') s += '1';
      else if (p.var === '#') s += '0';
      else s += env.vars.get(p.var) ?? '';
    } else if ('arith' in p) s += String(arith(p.arith.replace(/\$([A-Za-z_]\w*)/g, '$1'), env.vars));
    else {
      let captured = '';
      const sub: ShellEnv = { ...env, out: (t) => void (captured += t), sleeps: 0 };
      try {
        runSync(parseScript(p.sub), sub);
      } catch {
        /* a broken substitution expands to nothing */
      }
      s += captured.replace(/\n+$/, '');
    }
  }
  return s;
}

function expandArgs(words: Word[], env: ShellEnv): string[] {
  const out: string[] = [];
  for (const w of words) {
    const v = expandWord(w, env);
    const plain = w.parts.every((p) => 'lit' in p);
    if (w.quoted || plain) out.push(v);
    else for (const f of v.split(/\s+/)) if (f !== '') out.push(f);
  }
  return out;
}

function testExpr(args: string[], env: ShellEnv): boolean {
  if (args[0] === '!') return !testExpr(args.slice(1), env);
  if (args.length === 0) return false;
  if (args.length === 1) return args[0] !== '';
  if (args.length === 2) {
    const [op, v] = args as [string, string];
    if (op === '-z') return v === '';
    if (op === '-n') return v !== '';
    if (op === '-e' || op === '-f' || op === '-d' || op === '-s' || op === '-r') return env.fs.exists(v);
    return false;
  }
  const [a, op, b] = args as [string, string, string];
  const x = Number(a);
  const y = Number(b);
  switch (op) {
    case '=':
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '-eq':
      return x === y;
    case '-ne':
      return x !== y;
    case '-lt':
      return x < y;
    case '-le':
      return x <= y;
    case '-gt':
      return x > y;
    case '-ge':
      return x >= y;
    default:
      return false;
  }
}

function printf(args: string[]): string {
  const [fmt = '', ...rest] = args;
  let k = 0;
  const body = fmt.replace(/%(-?\d*)([sdif%])/g, (_m, _w, c: string) => (c === '%' ? '%' : String(rest[k++] ?? (c === 's' ? '' : '0'))));
  return body.replace(/\\n/g, '\n').replace(/\\t/g, '\t');
}

/** A pipeline stage as a filter of the text that flows into it. */
function pipeFilter(node: ShellNode, env: ShellEnv, next: (t: string) => void): (t: string) => void {
  if (node.t !== 'simple') return () => {};
  const argv = expandArgs(node.words, env);
  const cmd = argv[0]?.slice(argv[0].lastIndexOf('/') + 1);
  if (cmd === 'cat' || cmd === 'tee') return next;
  if (cmd !== 'grep') return () => {};
  const flags = argv.slice(1).filter((a) => a.startsWith('-')).join('');
  const pattern = argv.slice(1).find((a) => !a.startsWith('-')) ?? '';
  let re: RegExp;
  try {
    re = new RegExp(pattern, flags.includes('i') ? 'i' : '');
  } catch {
    re = /$^/;
  }
  const invert = flags.includes('v');
  let partial = '';
  return (t) => {
    const lines = (partial + t).split('\n');
    partial = lines.pop() ?? '';
    const kept = lines.filter((l) => re.test(l) !== invert);
    if (kept.length) next(kept.map((l) => `${l}\n`).join(''));
  };
}

function* simple(n: Extract<ShellNode, { t: 'simple' }>, env: ShellEnv): Generator<ShellYield, number> {
  const argv = expandArgs(n.words, env);
  let out = env.out;
  for (const r of n.redirs) {
    const target = expandWord(r.target, env);
    if (r.op === '>' || r.op === '>>' || r.op === '&>') {
      if (target === '/dev/null') out = () => {};
      else if (target !== '/dev/stdout' && target !== '/dev/stderr' && !target.startsWith('/proc/')) {
        const append = r.op === '>>';
        if (!append) env.fs.write(target, '', false);
        out = (t) => env.fs.write(target, t, true);
      }
    }
  }
  if (argv.length === 0) return 0;
  // Assignments: NAME=value [NAME=value ...]
  if (argv.every((a) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(a))) {
    for (const a of argv) {
      const i = a.indexOf('=');
      env.vars.set(a.slice(0, i), a.slice(i + 1));
    }
    return 0;
  }
  const cmd = argv[0]!.slice(argv[0]!.lastIndexOf('/') + 1);
  const args = argv.slice(1);
  switch (cmd) {
    case 'echo': {
      let newline = true;
      let escapes = false;
      while (args[0] === '-n' || args[0] === '-e' || args[0] === '-ne' || args[0] === '-en') {
        const f = args.shift()!;
        if (f.includes('n')) newline = false;
        if (f.includes('e')) escapes = true;
      }
      let text = args.join(' ');
      if (escapes) text = text.replace(/\\n/g, '\n').replace(/\\t/g, '\t');
      out(text + (newline ? '\n' : ''));
      return 0;
    }
    case 'printf':
      out(printf(args));
      return 0;
    case 'sleep': {
      const ms = args.reduce((acc, a) => acc + sleepMs(a), 0);
      if (!Number.isFinite(ms) && ms !== Number.POSITIVE_INFINITY) {
        out(`sleep: invalid number '${args.join(' ')}'\n`);
        return 1;
      }
      env.sleeps++;
      yield { sleepMs: ms };
      return 0;
    }
    case 'exit': {
      const code = args[0] === undefined ? env.status : Number(args[0]);
      throw new ShellExit(Number.isFinite(code) ? ((code % 256) + 256) % 256 : 2);
    }
    case 'true':
    case ':':
      return 0;
    case 'false':
      return 1;
    case 'touch':
      for (const f of args.filter((a) => !a.startsWith('-'))) if (!env.fs.exists(f) || !env.fs.known(f)) env.fs.write(f, '', true);
      return 0;
    case 'mkdir':
      return 0;
    case 'rm': {
      const force = args.some((a) => /^-[a-zA-Z]*f/.test(a));
      let status = 0;
      for (const f of args.filter((a) => !a.startsWith('-'))) {
        if (!env.fs.remove(f) && !force) {
          out(`rm: can't remove '${f}': No such file or directory\n`);
          status = 1;
        }
      }
      return status;
    }
    case 'cat': {
      let status = 0;
      for (const f of args.filter((a) => !a.startsWith('-'))) {
        if (!env.fs.exists(f)) {
          out(`cat: can't open '${f}': No such file or directory\n`);
          status = 1;
        } else out(env.fs.read(f) ?? '');
      }
      return status;
    }
    case 'test':
      return testExpr(args, env) ? 0 : 1;
    case '[':
      return testExpr(args[args.length - 1] === ']' ? args.slice(0, -1) : args, env) ? 0 : 1;
    case 'date':
      out(`${shellDate(env.now())}\n`);
      return 0;
    case 'hostname':
      out(`${env.hostname}\n`);
      return 0;
    case 'env':
    case 'printenv':
      if (args.length) {
        const v = env.vars.get(args[0]!);
        if (v === undefined) return 1;
        out(`${v}\n`);
        return 0;
      }
      for (const [k, v] of env.vars) out(`${k}=${v}\n`);
      return 0;
    case 'yes':
      for (;;) {
        out(`${args.join(' ') || 'y'}\n`);
        yield { spin: true };
      }
    default:
      return 0;
  }
}

/** Runs a node; yields when the script sleeps or spins; returns its exit status. */
export function* exec(n: ShellNode, env: ShellEnv): Generator<ShellYield, number> {
  let s = 0;
  switch (n.t) {
    case 'list':
      for (const item of n.items) s = yield* exec(item, env);
      break;
    case 'and':
      s = yield* exec(n.l, env);
      if (s === 0) s = yield* exec(n.r, env);
      break;
    case 'or':
      s = yield* exec(n.l, env);
      if (s !== 0) s = yield* exec(n.r, env);
      break;
    case 'pipe': {
      // The first command runs; the later ones filter its output line by line as it streams
      // (cat / tee pass it on, grep selects, anything else consumes it).
      const out = env.out;
      let sink = out;
      for (let i = n.cmds.length - 1; i >= 1; i--) sink = pipeFilter(n.cmds[i]!, env, sink);
      env.out = sink;
      try {
        s = yield* exec(n.cmds[0]!, env);
      } finally {
        env.out = out;
      }
      break;
    }
    case 'simple':
      s = yield* simple(n, env);
      break;
    case 'while':
      for (;;) {
        const before = env.sleeps;
        const c = yield* exec(n.cond, env);
        if ((c === 0) === n.until) break;
        s = yield* exec(n.body, env);
        if (env.sleeps === before) yield { spin: true };
      }
      break;
    case 'for':
      for (const v of expandArgs(n.words, env)) {
        env.vars.set(n.name, v);
        s = yield* exec(n.body, env);
      }
      break;
    case 'if': {
      let taken = false;
      for (const b of n.branches) {
        if ((yield* exec(b.cond, env)) === 0) {
          s = yield* exec(b.body, env);
          taken = true;
          break;
        }
      }
      if (!taken && n.otherwise) s = yield* exec(n.otherwise, env);
      break;
    }
    case 'group':
      s = yield* exec(n.body, env);
      break;
  }
  env.status = s;
  return s;
}
