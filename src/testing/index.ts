export { SeededRandom, hashString, unitHash } from "./random.js";
export {
  CrashPoint,
  TransientFault,
  CRASH_POINTS,
  SimulatedCrash,
  dynamoThrottlingError,
  sqsThrottlingError,
  transientServerError,
  isInjectedFault,
  type FaultPoint,
  type SimulatedServiceError,
} from "./faults.js";
export { FaultInjector, Invocation, type FaultRule, type FaultSite, type FaultInjectorOptions, type InjectedFault } from "./FaultInjector.js";
export { FaultyStore } from "./FaultyStore.js";
export { FaultyQueue } from "./FaultyQueue.js";
export { crashingWorker } from "./crashingWorker.js";
export { withFaults } from "./withFaults.js";
