/**
 * The sandbox's fixed world. Tests and `lumen sandbox start` import these so both agree on ids and secrets.
 * Every credential here is deliberately fake and public.
 */
import type { SandboxApp, SandboxPhoneNumber, SandboxTemplate } from './types.js';

export const SANDBOX_PHONE_NUMBER_ID = '106540352242922';
/** As the phone-number node returns it (Meta formats it for display). */
export const SANDBOX_DISPLAY_PHONE_NUMBER = '+1 555-010-4242';
/** As webhook `metadata.display_phone_number` carries it (digits only). */
export const SANDBOX_WEBHOOK_DISPLAY_PHONE_NUMBER = '15550104242';
export const SANDBOX_VERIFIED_NAME = 'Lumen Sandbox';
export const SANDBOX_WABA_ID = '102290129340398';
export const SANDBOX_ACCESS_TOKEN = 'EAALumenSANDBOXAccessToken0NotReal0ForLocalTestingOnly';
export const SANDBOX_APP_SECRET = '5a4d0b1e9c3f7a2e8b6d4c0f1a3e5b7d';
export const SANDBOX_APP: Readonly<SandboxApp> = Object.freeze({
  id: '1234567890123456',
  name: 'Lumen Sandbox App',
  link: 'https://sandbox.lumen.invalid/app',
});
/** Page size cap for `message_templates`, small so clients must follow `paging.next`. */
export const SANDBOX_DEFAULT_MAX_PAGE_SIZE = 2;

export function seedPhoneNumber(): SandboxPhoneNumber {
  return {
    id: SANDBOX_PHONE_NUMBER_ID,
    display_phone_number: SANDBOX_DISPLAY_PHONE_NUMBER,
    verified_name: SANDBOX_VERIFIED_NAME,
    quality_rating: 'GREEN',
    code_verification_status: 'VERIFIED',
    platform_type: 'CLOUD_API',
    throughput: { level: 'STANDARD' },
    name_status: 'APPROVED',
    account_mode: 'SANDBOX',
    messaging_limit_tier: 'TIER_1K',
    status: 'CONNECTED',
    is_official_business_account: false,
  };
}

const TRACK_BUTTON_EXAMPLE = ['https://x.example/track/ABC'];

/** A fresh copy each call, so a test that mutates one cannot leak into another. */
export function seedTemplates(): SandboxTemplate[] {
  return [
    {
      id: '1873104929951101',
      name: 'hello_world',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Hello World' },
        {
          type: 'BODY',
          text: 'Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us.',
        },
        { type: 'FOOTER', text: 'WhatsApp Business Platform sample message' },
      ],
    },
    {
      id: '1873104929951102',
      name: 'order_update',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Order {{1}}', example: { header_text: ['#123'] } },
        {
          type: 'BODY',
          text: 'Hi {{1}}, your order {{2}} has shipped.',
          example: { body_text: [['Ana', '#123']] },
        },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'URL', text: 'Track order', url: 'https://x.example/track/{{1}}', example: TRACK_BUTTON_EXAMPLE },
          ],
        },
      ],
    },
    {
      id: '1873104929951103',
      name: 'order_update',
      language: 'es',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Pedido {{1}}', example: { header_text: ['#123'] } },
        {
          type: 'BODY',
          text: 'Hola {{1}}, tu pedido {{2}} ha sido enviado.',
          example: { body_text: [['Ana', '#123']] },
        },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'URL', text: 'Seguir pedido', url: 'https://x.example/track/{{1}}', example: [...TRACK_BUTTON_EXAMPLE] },
          ],
        },
      ],
    },
    {
      id: '1873104929951104',
      name: 'welcome',
      language: 'en_US',
      status: 'APPROVED',
      category: 'MARKETING',
      parameter_format: 'NAMED',
      components: [
        {
          type: 'BODY',
          text: 'Hi {{first_name}}, welcome to {{shop}}!',
          example: {
            body_text_named_params: [
              { param_name: 'first_name', example: 'Ana' },
              { param_name: 'shop', example: 'Lumen Store' },
            ],
          },
        },
      ],
    },
    {
      id: '1873104929951105',
      name: 'appointment_reminder',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        {
          type: 'BODY',
          text: 'Hi {{1}}, this is a reminder of your appointment on {{2}} at {{3}}. Reply to confirm or reschedule.',
          example: { body_text: [['Ana', 'May 3', '10:30']] },
        },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'QUICK_REPLY', text: 'Confirm' },
            { type: 'QUICK_REPLY', text: 'Reschedule' },
          ],
        },
      ],
    },
    {
      id: '1873104929951106',
      name: 'promo_rejected',
      language: 'en_US',
      status: 'REJECTED',
      category: 'MARKETING',
      parameter_format: 'POSITIONAL',
      components: [{ type: 'BODY', text: 'Get 90% off everything, today only!!!' }],
    },
    {
      id: '1873104929951107',
      name: 'pending_offer',
      language: 'en_US',
      status: 'PENDING',
      category: 'MARKETING',
      parameter_format: 'POSITIONAL',
      components: [
        {
          type: 'BODY',
          text: 'Hi {{1}}, a new offer is waiting for you.',
          example: { body_text: [['Ana']] },
        },
      ],
    },
  ];
}

/**
 * An approved AUTHENTICATION template (a one-time code with a copy-code button), kept out of `seedTemplates()` so
 * the default world keeps its seven templates. Add it with `addTemplates`, `startSandbox({templates})` or
 * `POST /_sandbox/templates`; sent to a business-scoped user id it gets Meta's 131062.
 */
export function seedAuthenticationTemplate(): SandboxTemplate {
  return {
    id: '1873104929951108',
    name: 'verify_code',
    language: 'en_US',
    status: 'APPROVED',
    category: 'AUTHENTICATION',
    parameter_format: 'POSITIONAL',
    components: [
      {
        type: 'BODY',
        text: '*{{1}}* is your verification code. For your security, do not share this code.',
        example: { body_text: [['123456']] },
      },
      { type: 'FOOTER', text: 'This code expires in 10 minutes.' },
      {
        type: 'BUTTONS',
        buttons: [
          {
            type: 'URL',
            text: 'Copy code',
            url: 'https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code_expiration_minutes=10&code=otp{{1}}',
            example: ['https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code_expiration_minutes=10&code=otp123456'],
          },
        ],
      },
    ],
  };
}
