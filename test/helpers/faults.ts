// Fault injection inside workerd for test/faults/: the same wrappers the fault harness's Worker entry puts around the
// bindings (scripts/faults/inject.ts), never part of src/.
export { seededRandom, withD1Faults, withDuplicateMessages, type Faults } from "../../scripts/faults/inject";
