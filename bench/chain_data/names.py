"""Words the chain's made-up people and places are made of."""

# (area, branch code, city): one gym of the chain each, Dhaka first.
BRANCHES = [
    ("Dhanmondi", "DHN", "Dhaka"), ("Gulshan", "GUL", "Dhaka"), ("Banani", "BAN", "Dhaka"),
    ("Uttara", "UTT", "Dhaka"), ("Mirpur", "MIR", "Dhaka"), ("Mohammadpur", "MOH", "Dhaka"),
    ("Bashundhara", "BAS", "Dhaka"), ("Motijheel", "MOT", "Dhaka"), ("Badda", "BAD", "Dhaka"),
    ("Rampura", "RAM", "Dhaka"), ("Tejgaon", "TEJ", "Dhaka"), ("Lalmatia", "LAL", "Dhaka"),
    ("Khilgaon", "KHI", "Dhaka"), ("Wari", "WAR", "Dhaka"), ("GEC Circle", "CGE", "Chattogram"),
    ("Agrabad", "CAG", "Chattogram"), ("Zindabazar", "SYL", "Sylhet"),
    ("Shaheb Bazar", "RAJ", "Rajshahi"), ("Sonadanga", "KHU", "Khulna"),
    ("Chashara", "NGJ", "Narayanganj"),
]

# English spellings, as most clients write their names on the form.
MALE = ["Abdul", "Arif", "Asif", "Imran", "Jahid", "Kamal", "Mahmud", "Masud", "Mizanur", "Nazmul",
        "Rakib", "Rashed", "Rezaul", "Saiful", "Shakil", "Shahriar", "Tanvir", "Tariq", "Zahid",
        "Habib", "Faisal", "Rubel", "Sabbir", "Mehedi", "Anisur", "Mamun", "Sohel", "Jamal",
        "Kawsar", "Nayeem", "Ridwan", "Sajid", "Shafiq", "Towhid", "Yasin", "Ehsan", "Fahim",
        "Hasibul", "Mostafizur", "Touhidul"]
FEMALE = ["Ayesha", "Farhana", "Fatema", "Jannatul", "Nusrat", "Rumana", "Sadia", "Sharmin",
          "Sumaiya", "Tahmina", "Taslima", "Nabila", "Mitu", "Shirin", "Lamia", "Rokeya", "Sabrina",
          "Tania", "Afroza", "Dilruba", "Maliha", "Nadia", "Raisa", "Samira", "Tasnim", "Umme",
          "Anika", "Bushra", "Farzana", "Ishrat", "Jarin", "Kaniz", "Mahmuda", "Nazia", "Rifat"]
SURNAMES = ["Ahmed", "Akter", "Alam", "Begum", "Chowdhury", "Das", "Hasan", "Hossain", "Islam",
            "Karim", "Khan", "Mahmud", "Miah", "Molla", "Rahman", "Roy", "Sarker", "Siddique",
            "Talukder", "Uddin", "Sheikh", "Bhuiyan", "Mondal", "Haque", "Kabir", "Jahan",
            "Sultana", "Majumder", "Paul", "Biswas", "Saha", "Khatun", "Ali", "Howlader", "Sikder"]
# Names written in Bengali script, with the spelling the same person uses for email.
MALE_BN = [("রহিম", "rahim"), ("করিম", "karim"), ("তানভীর", "tanvir"), ("ইমরান", "imran"),
           ("সাকিব", "sakib"), ("মাহমুদ", "mahmud"), ("জাহিদ", "jahid"), ("রাকিব", "rakib"),
           ("সোহেল", "sohel"), ("হাবিব", "habib"), ("আরিফ", "arif"), ("মেহেদী", "mehedi"),
           ("শফিক", "shafiq"), ("নাঈম", "nayeem"), ("আব্দুল", "abdul")]
FEMALE_BN = [("ফাতেমা", "fatema"), ("নুসরাত", "nusrat"), ("আয়েশা", "ayesha"), ("সাদিয়া", "sadia"),
             ("শারমিন", "sharmin"), ("তাহমিনা", "tahmina"), ("রোকেয়া", "rokeya"),
             ("সুমাইয়া", "sumaiya"), ("নাবিলা", "nabila"), ("তাসনিম", "tasnim"),
             ("ফারজানা", "farzana"), ("মালিহা", "maliha")]
SURNAMES_BN = [("আহমেদ", "ahmed"), ("হোসেন", "hossain"), ("ইসলাম", "islam"), ("রহমান", "rahman"),
               ("খান", "khan"), ("চৌধুরী", "chowdhury"), ("আক্তার", "akter"), ("বেগম", "begum"),
               ("সরকার", "sarker"), ("উদ্দিন", "uddin"), ("হক", "haque"), ("দাস", "das"),
               ("জাহান", "jahan"), ("সুলতানা", "sultana")]
# The honorifics the desk types in front of names ("Md." is searched as "Mohammad" too).
MALE_PREFIX, FEMALE_PREFIX, MALE_PREFIX_BN = "Md.", "Mst.", "মোঃ"

EMAIL_DOMAINS = ["gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com"]
ROADS = ["Road", "Lane", "Avenue"]
BAN_REASONS = ["Damaged lockers twice", "Abusive to staff", "Left a locker unpaid for months",
               "Shared a key with non-members"]
REPAIRS = ["Hinge loose", "Door does not close", "Lock sticks", "Shelf broken",
           "Number plate missing"]
CANCEL_REASONS = ["Issued by mistake", "Client changed the term", "Wrong locker chosen"]

# (name, Bengali name) of the floors and zones every branch has, and (zone, floor, kind,
# locker prefix, share of the branch's lockers).
FLOORS = [("Ground floor", "নিচতলা"), ("First floor", "দোতলা"), ("Second floor", "তিনতলা")]
ZONES = [("Men", "পুরুষ", 0, "MEN", "M", 0.40), ("Women", "মহিলা", 1, "WOMEN", "W", 0.33),
         ("Family", "পারিবারিক", 2, "FAMILY", "F", 0.17), ("VIP", "ভিআইপি", 2, "VIP", "V", 0.10)]
CATEGORIES = [("Standard", "স্ট্যান্ডার্ড"), ("Day-use", "দৈনিক"), ("Premium", "প্রিমিয়াম")]
TAGS = [("VIP", "ভিআইপি"), ("Corporate", "কর্পোরেট"), ("Student", "শিক্ষার্থী"),
        ("Long-term", "দীর্ঘমেয়াদি")]

# What a desk PC's browser says about itself in the activity log.
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
