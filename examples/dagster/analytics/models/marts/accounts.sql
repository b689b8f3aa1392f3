select id, company_name, billing_email, country_code, seats
from {{ ref('raw_accounts') }}
