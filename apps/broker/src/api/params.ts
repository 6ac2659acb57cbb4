import { Param } from '@nestjs/common';
import { TopicName } from '@claudemesh/core';

/** `:name` in a topic route, validated as a topic name (bare, without `#`). */
export const TopicParam = (): ParameterDecorator => Param('name', { schema: TopicName });
