import type { DispatcherSource } from '../../net/undici.js';
import type { ProviderConfig } from '../llm.js';
import { AnthropicProvider } from './anthropic-provider.js';
import type { LlmProvider } from './llm-provider.js';
import { OllamaProvider, OpenAiProvider } from './openai-provider.js';

export function createProvider(config: ProviderConfig, dispatcher: DispatcherSource): LlmProvider {
  switch (config.kind) {
    case 'anthropic':
      return new AnthropicProvider(config, dispatcher);
    case 'ollama':
      return new OllamaProvider(config, dispatcher);
    default:
      return new OpenAiProvider(config, dispatcher);
  }
}
