"""devnet: a local java-tron full node (HTTP API) for development, tests and demos.

Modules, from the bottom up:
- wire formats: `encoding` (protobuf fields, block ids), `decoding` (protobuf
  bytes in, as protobuf-java parses them), `messages` (protobuf messages as
  data: java-tron's JSON in and out), `contracts` (system contract schemas),
  `transactions` (raw_data, txid, java-tron's JSON), `transaction_bytes`
  (serialised transactions in, JsonFormat's print out: broadcasthex);
- keys and state: `keys` (addresses, signatures), `params` and `genesis`
  (starting state), `accounts`, `ledger` (state layers: solid, per block,
  pending), `resources` (usage windows);
- rules: `errors`, `signatures`, `bandwidth`, `actuators`, `processor`
  (broadcast and execution), `mempool` (pending -> block);
- smart contracts: `evm_abi` (selectors, words), `vm` (native contracts'
  energy meter and results), `vm_actuator` (TriggerSmartContract, energy
  limit and bill), `vm_constant` (constant calls, estimateenergy), `trc20*`
  (USDT at its mainnet address, its storage and genesis);
- the node: `chain` (blocks, views, no clock), `producer` (slots on the wall
  clock), `render*` (java-tron's JSON), `http` and `api*` (aiohttp routes;
  `broadcast` holds both broadcast endpoints, shared with the faults),
  `server` (`Devnet`: everything on one event loop), `builders` (local
  signing for tests and tools) and `__main__` (`python -m devnet`);
- test aids: `faults` (what to break and when, no I/O), `faults_tamper`,
  `faults_middleware` (faults carried out on the API), `api_admin`
  (`/devnet/faults`, `/devnet/fund`) and `snapshot` (`--state FILE`).
"""
