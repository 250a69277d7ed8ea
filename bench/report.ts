// Every benchmark prints its figures through report(): a readable line for people, and a tab-separated
// `RESULT` line that bench/run.ts collects into bench/RESULTS.md.

/** Prints one figure. `target` states the goal it is measured against, when there is one. */
export function report(figure: string, value: string, target = ''): void {
  console.log(`${figure}: ${value}${target ? `  [target: ${target}]` : ''}`);
  console.log(`RESULT\t${figure}\t${value}\t${target}`);
}
