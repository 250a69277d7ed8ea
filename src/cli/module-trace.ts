// For the tests that check how a bin starts: the files Node's own module tracing (NODE_DEBUG=module,esm,
// on stderr) says the process loaded.

/** The environment under which node traces its module loading. */
export const MODULE_TRACE = { NODE_DEBUG: 'module,esm' };

/** Every .js/.cjs file a trace names, once each. */
export function tracedFiles(stderr: string): string[] {
  return [...new Set([...stderr.matchAll(/(?:load "|Loading module |file:\/\/)([^"\s]+\.(?:c?js))/g)].map((m) => m[1] as string))];
}

/** Those of the project (dist/) and of its packages (node_modules/). */
export function projectFiles(stderr: string): string[] {
  return tracedFiles(stderr).filter((f) => f.includes('/dist/') || f.includes('/node_modules/'));
}
