/** Shared helpers for benchmarks: percentiles, tables, and the `--json` output contract. */

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function sortNumbers(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Prints rows as an aligned text table. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  console.log(`\n${title}`);
  cells.forEach((r, j) => {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    if (j === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

export interface BenchArgs {
  json: boolean;
  /**
   * How much of the full workload to run: 1 by default, 0.2 with `--quick`, 0.01 with
   * `--smoke` (a seconds-long run that only proves the benchmark works; the test suite uses it).
   */
  scale: number;
  rest: string[];
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const scale = argv.includes('--smoke') ? 0.01 : argv.includes('--quick') ? 0.2 : 1;
  return { json: argv.includes('--json'), scale, rest: argv.filter((a) => !a.startsWith('--')) };
}

/** `n` scaled, never below `min`. */
export function scaled(n: number, args: BenchArgs, min = 1): number {
  return Math.max(min, Math.round(n * args.scale));
}
