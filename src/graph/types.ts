/** Shapes of the Cloud API objects lumen reads and writes (Meta's names, snake_case). */

export interface GraphPhoneNumber {
  id: string;
  display_phone_number?: string;
  verified_name?: string;
  quality_rating?: string;
  code_verification_status?: string;
  platform_type?: string;
  throughput?: { level?: string };
}

export type TemplateComponentType = 'HEADER' | 'BODY' | 'FOOTER' | 'BUTTONS';

export interface GraphTemplateButton {
  type: string;
  text?: string;
  url?: string;
  phone_number?: string;
  example?: string[] | string;
  [key: string]: unknown;
}

export interface GraphTemplateComponent {
  type: TemplateComponentType | string;
  format?: string;
  text?: string;
  buttons?: GraphTemplateButton[];
  example?: {
    header_text?: string[];
    header_text_named_params?: Array<{ param_name: string; example: string }>;
    body_text?: string[][];
    body_text_named_params?: Array<{ param_name: string; example: string }>;
    header_handle?: string[];
  };
  [key: string]: unknown;
}

export interface GraphTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category?: string;
  parameter_format?: 'POSITIONAL' | 'NAMED' | string;
  components?: GraphTemplateComponent[];
  [key: string]: unknown;
}

export interface GraphPaged<T> {
  data: T[];
  paging?: { cursors?: { before?: string; after?: string }; next?: string; previous?: string };
}

export interface GraphSubscribedApp {
  whatsapp_business_api_data?: { id?: string; name?: string; link?: string };
  [key: string]: unknown;
}

export interface GraphErrorBody {
  error?: {
    message?: string;
    type?: string;
    code?: number;
    error_subcode?: number;
    error_user_title?: string;
    error_user_msg?: string;
    error_data?: { messaging_product?: string; details?: string } | string;
    fbtrace_id?: string;
    is_transient?: boolean;
  };
}
