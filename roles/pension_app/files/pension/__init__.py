"""The jinbao reference application: urban and rural residents' pension enrollment and
contributions (参保登记, 缴费), behind the web tier, in front of the core database."""
