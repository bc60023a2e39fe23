import { BadRequestException, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { KvService } from './kv.service.js';

const int32 = /^-?[0-9]{1,10}$/;

/** The flask seed's key-value API. */
@Controller('data')
export class KvController {
  constructor(private readonly kv: KvService) {}

  @Post('insert/:key/:value')
  @HttpCode(200) // as the seed answers
  async insert(@Param('key') key: string, @Param('value') value: string): Promise<{ status: 'success' }> {
    if (!int32.test(value) || Math.abs(Number(value)) > 2 ** 31 - 1) throw new BadRequestException('value must be a 32-bit integer');
    await this.kv.set(key, Number(value));
    return { status: 'success' };
  }

  @Get('get/:key')
  async get(@Param('key') key: string): Promise<{ value: number }> {
    const value = await this.kv.get(key);
    if (value === undefined) throw new NotFoundException();
    return { value };
  }

  @Get()
  async all(): Promise<{ entries: Record<string, number> }> {
    return { entries: await this.kv.all() };
  }
}
