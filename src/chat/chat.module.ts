import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Db } from '../db/database.js';
import type { MemoryService } from '../memory/memory.service.js';
import { ChatRepository } from './chat.repository.js';
import { chatRoutes } from './chat.routes.js';
import { ChatService, type ChatAgent, type ChatLlm } from './chat.service.js';

export function createChatService(deps: {
  db: Db;
  llm: ChatLlm;
  agents: { getForRun(userId: string, ref: string): Promise<ChatAgent> };
  memory: MemoryService;
  publish?: (channel: string, event: Record<string, unknown>) => Promise<void>;
}): ChatService {
  return new ChatService({ ...deps, repo: new ChatRepository() });
}

export async function registerChatRoutes(server: FastifyInstance, chat: ChatService, config: Config) {
  await server.register(chatRoutes, { prefix: '/api/v1', chat, maxPageSize: config.max_page_size });
}
