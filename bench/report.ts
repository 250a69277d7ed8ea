// Every benchmark prints its figures through report(): a readable line for people, and a tab-separated
// `RESULT` line that bench/run.ts collects into bench/RESULTS.md.

/**
 * Prints one figure. `target` states the goal it is measured against, when there is one, and `reached`
 * whether this run met it (the bench decides from the numbers, never by hand).
 */
export function report(figure: string, value: string, target = '', reached?: boolean): void {
  const verdict = reached === undefined ? '' : reached ? 'yes' : 'no';
  console.log(`${figure}: ${value}${target ? `  [target: ${target}${verdict ? `, reached: ${verdict}` : ''}]` : ''}`);
  console.log(`RESULT\t${figure}\t${value}\t${target}\t${verdict}`);
}
