/**
 * @hivecast/signaling-server — a hardened WebSocket tracker speaking the WebTorrent tracker
 * protocol, so `bittorrent-tracker` and p2p-media-loader clients use it unchanged.
 *
 * ```ts
 * const server = await startSignalingServer({ port: 0, host: "127.0.0.1" });
 * // clients announce to server.url; operators scrape `${server.httpUrl}/metrics`
 * await server.close();
 * ```
 */
export { startSignalingServer, CloseCodes } from "./server.js";
export type { SignalingServer, SignalingStats, SignalingDeps } from "./server.js";
export { DEFAULT_CONFIG, resolveConfig } from "./config.js";
export type { SignalingConfig, LogLevel, IpRuleScope } from "./config.js";
export { SignalingError } from "./errors.js";
export type { SignalingErrorCode } from "./errors.js";
export { createSignalingToken, verifySignalingToken } from "./token.js";
export type { SignalingTokenClaims, TokenRejection } from "./token.js";
export { parseCli, envName, usage, ENV_PREFIX, TURN_SECRET_ENV } from "./cli-config.js";
export type { CliRequest } from "./cli-config.js";
export type { RejectReason } from "./protocol.js";
export type { LogSink } from "./logger.js";
export { buildIceResponse, mintTurnCredential, parseIceServerUrl } from "./ice.js";
export type { IceResponse, IceServerEntry, IceServerUrl, TurnCredential } from "./ice.js";
