export { PluginError, PluginCapability, PluginManifest, PluginPermissions, checkCompatibility, checkPermissions, readPlugin, type PluginPackage } from './manifest.js';
export { ControlConfig, HostConfig, InstanceConfig, describeIssues, expandPath, loadHostConfig, loadSingleInstanceConfig, type LoadedConfig } from './config.js';
export { PluginHost, type ControlInfo, type InstanceState, type InstanceStatus, type PluginHostOptions } from './host.js';
export { PLUGIN_EXIT, runPlugin, type PluginContext, type PluginDefinition, type RunningPlugin } from './runtime.js';
export { askHost, hostSocketPath, serveHostControl, type HostControl } from './control-socket.js';
export { CONTROL_PATTERNS, controlSubject, type ControlChannel, type ControlPattern } from './control.js';
export { KEYRING_COMPACT_AFTER, KEYRING_SAVE_DELAY_MS, KeyringLog, joinParts, type KeyringLoad, type KeyringLogOptions } from './keyring-log.js';
