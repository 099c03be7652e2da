/** TEMPORARY shim until the launcher branch lands. @internal */
export { accepts, exitInfoOf, killGroup, signalProcess } from "../process.js"
