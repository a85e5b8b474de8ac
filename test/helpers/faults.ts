// Fault injection inside workerd for test/faults/: the same wrappers the fault harness's Worker entry puts around the
// bindings (scripts/faults/inject.ts), never part of src/.
export { type Faults, seededRandom, withD1Faults, withDuplicateMessages } from "../../scripts/faults/inject";
