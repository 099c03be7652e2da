/**
 * Actions as JSON: one shape for the state store, the remote protocol and the daemon's config
 * file.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import {
  type Action,
  type ActionData,
  dataFields,
  dataVariants,
  defaultName,
  flags,
  isAction,
  type LocalData,
  make,
  type NotifyData,
  summary
} from "./action.js"
import * as json from "./json.js"

/** @internal the first action of the tree (the action or an alternate) that is local code, if any */
export const localPart = (action: ActionData): LocalData | NotifyData | undefined => {
  if (action._tag === "Local" || action._tag === "Notify") return action
  for (const alternate of action.alternates) {
    const local = localPart(alternate)
    if (local !== undefined) return local
  }
  return undefined
}

/** @internal why an action of local code read back from JSON fails until it is declared again */
export const missingCode = (label: string) =>
  `the local code of this action ("${label}") was not declared again since the store was reopened`

/** @internal the name, flags and alternates of an action as written in JSON (only when set) */
export type ActionJsonCommon = {
  readonly name?: string | undefined
  readonly breakOnFail?: boolean
  readonly removeOnFail?: boolean
  readonly oneShot?: boolean
  readonly doNow?: boolean | undefined
  readonly alternates?: ReadonlyArray<ActionJson>
  readonly onFail?: ReadonlyArray<ActionJson> | undefined
}

type JsonVariant<Tag extends string, Fields extends Schema.Struct.Fields> =
  & { readonly _tag: Tag }
  & Schema.Struct.Encoded<Fields>
  & ActionJsonCommon

/**
 * An action as written in JSON: the fields of its `_tag`; its name, flags and alternates only
 * when set. Local code is a `LocalCode` marker with its label.
 *
 * @internal
 */
export type ActionJson =
  | JsonVariant<"Restart", typeof dataFields.Restart>
  | JsonVariant<"Execute", typeof dataFields.Execute>
  | JsonVariant<"Signal", typeof dataFields.Signal>
  | JsonVariant<"WaitFor", typeof dataFields.WaitFor>
  | JsonVariant<"HeartbeatHealthy", {}>
  | JsonVariant<"Log", typeof dataFields.Log>
  | JsonVariant<"PublishState", typeof dataFields.PublishState>
  | JsonVariant<"Raise", typeof dataFields.Raise>
  | JsonVariant<"NotifyEntity", typeof dataFields.NotifyEntity>
  | JsonVariant<"RestartEntity", typeof dataFields.RestartEntity>
  | JsonVariant<
    "LocalCode",
    { readonly label: typeof Schema.String; readonly summary: Schema.optional<typeof Schema.String> }
  >

const jsonCommon = {
  ...flags,
  breakOnFail: json.flag,
  removeOnFail: json.flag,
  oneShot: json.flag,
  alternates: json.list(
    Schema.suspend((): Schema.Schema<Action, ActionJson> => ActionFromJson).annotations({ identifier: "Action" })
  ),
  onFail: Schema.optional(Schema.Array(
    Schema.suspend((): Schema.Schema<Action, ActionJson> => ActionFromJson).annotations({ identifier: "Action" })
  ))
}

const LocalCodeJson = Schema.TaggedStruct("LocalCode", {
  ...jsonCommon,
  label: Schema.String,
  summary: Schema.optional(Schema.String)
})

const withoutUndefined = (fields: object): any =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))

/**
 * Every action as JSON, one shape for the store and the wire. The actions that are data
 * (restart, execute, signal, waitfor, heartbeatHealthy, log, publishState, raise) are written whole and read back as
 * they were; a notify (a local queue) or an `Action.effect` (code) is written as a `LocalCode`
 * marker with its label and flags, and read back as an action that fails until the application
 * declares it again.
 *
 * @internal
 */
export const ActionFromJson: Schema.Schema<Action, ActionJson> = Schema.transform(
  Schema.Union(...dataVariants(jsonCommon), LocalCodeJson),
  Schema.declare(isAction, { identifier: "Action" }),
  {
    strict: false,
    decode: (data) => {
      if (data._tag !== "LocalCode") return make(data)
      const { _tag, summary: _, ...marker } = data
      return make<LocalData>({ ...marker, _tag: "Local", run: () => Effect.fail(missingCode(marker.label)) })
    },
    encode: (action) => {
      if (action._tag !== "Local" && action._tag !== "Notify") return withoutUndefined(action)
      const { alternates, breakOnFail, doNow, name, onFail, oneShot, removeOnFail } = action
      const marker = { label: defaultName(action), summary: summary(action) }
      return withoutUndefined({
        _tag: "LocalCode",
        ...marker,
        name,
        breakOnFail,
        removeOnFail,
        oneShot,
        doNow,
        alternates,
        onFail
      })
    }
  }
)
