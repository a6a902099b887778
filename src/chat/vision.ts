/**
 * Models known to accept images in chat (OpenAI content parts with `image_url`). Images sent to any other
 * model are left out of the request and the message says so, rather than failing upstream.
 */
const VISION = [
  /gpt-4o/,
  /gpt-4\.1/,
  /gpt-4-turbo/,
  /gpt-5/,
  /(^|\/)o[134](-|$)/,
  /claude-3/,
  /claude-(opus|sonnet|haiku)-4/,
  /claude-(sonnet|opus)-4/,
  /gemini/,
  /llava/,
  /bakllava/,
  /vision/,
  /pixtral/,
  /qwen.*vl/,
  /minicpm-v/,
  /moondream/,
  /gemma3/,
];

export function acceptsImages(model: string): boolean {
  const m = model.toLowerCase();
  return VISION.some((re) => re.test(m));
}
