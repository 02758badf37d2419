/**
 * Entry of the `<script>` build (`hivecast.iife.js`). Its default export becomes the global
 * `Hivecast`: the class itself, so `new Hivecast({...})` works, carrying the rest of the package
 * as static members (`Hivecast.playWithHivecast`, `Hivecast.HivecastError`…) and itself as
 * `Hivecast.Hivecast` for code written against the module's named exports.
 */
import { DEFAULT_CONFIG, ErrorCodes, HivecastError, isHivecastError } from "@hivecast/core";
import { Hivecast } from "./hivecast.js";
import { playWithHivecast } from "./play.js";

/** The global `Hivecast` of the script-tag build. */
class HivecastGlobal extends Hivecast {
  /** The class, for `new Hivecast.Hivecast(...)` (same as `new Hivecast(...)`). */
  static readonly Hivecast = Hivecast;
  /** See {@link playWithHivecast}. */
  static readonly playWithHivecast = playWithHivecast;
  /** See `HivecastError`. */
  static readonly HivecastError = HivecastError;
  /** See `isHivecastError`. */
  static readonly isHivecastError = isHivecastError;
  /** See `DEFAULT_CONFIG`. */
  static readonly DEFAULT_CONFIG = DEFAULT_CONFIG;
  /** See `ErrorCodes`. */
  static readonly ErrorCodes = ErrorCodes;
}

export default HivecastGlobal;
