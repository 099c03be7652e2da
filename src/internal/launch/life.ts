/** TEMPORARY shim until the launcher branch lands. @internal */
export { exitInfoOf, killGroup, signalProcess } from "../process.js"
