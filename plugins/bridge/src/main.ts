import { runPlugin } from '@claudemesh/plugin';
import { BridgeConfig, startBridge } from './bridge.js';

await runPlugin({ name: 'bridge', version: '0.1.0', configSchema: BridgeConfig, start: startBridge });
