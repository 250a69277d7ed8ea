// Imported first by every benchmark: the programs it starts, ours and Fail2Ban's, run in the environment
// of docker-mailserver's container, which does not set NODE_EXTRA_CA_CERTS. Some machines do (this one
// points it at its proxy's CA bundle), and node then parses that bundle at every start, before any script
// runs: `node -e 0` takes 46 ms with it and 17 ms without here, and holds ~2 MB more. Python does not read
// it, so leaving it set would charge node's programs for the machine, not for their work. bench/client
// reports node's start-up with the machine's value too.

/** The machine's NODE_EXTRA_CA_CERTS, for the one row that shows what it costs. */
export const machineExtraCaCerts = process.env.NODE_EXTRA_CA_CERTS;
delete process.env.NODE_EXTRA_CA_CERTS;
