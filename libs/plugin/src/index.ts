export { PluginError, PluginCapability, PluginManifest, PluginPermissions, checkCompatibility, checkPermissions, readPlugin, type PluginPackage } from './manifest.js';
export { HostConfig, InstanceConfig, describeIssues, expandPath, loadHostConfig, type LoadedConfig } from './config.js';
export { PluginHost, type InstanceState, type InstanceStatus, type PluginHostOptions } from './host.js';
export { PLUGIN_EXIT, runPlugin, type PluginContext, type PluginDefinition, type RunningPlugin } from './runtime.js';
export { askHost, hostSocketPath, serveHostControl, type HostControl } from './control-socket.js';
