"""Reference data for the simulated diaspora: names, places and their weights.

The weights are plausible, not official statistics: family names follow a
Zipf-like law (a few very common ones, a long tail), residence countries
follow the known shape of the Kosovar/Albanian diaspora (Germany and
Switzerland first), and a tail of countries with a handful of people each
gives the disclosure control something to do.
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


ALBANIAN_MALE = _words(
    """
Agim Agron Adem Adnan Afrim Ahmet Alban Albert Alket Altin Arben Arbër Arbnor Ardian Ardit Arianit Armend
Arton Astrit Avni Bajram Bardh Bashkim Bekim Besart Besim Besnik Blend Blerim Bujar Burim Dardan Dashnor Dren
Drilon Driton Edmond Egzon Endrit Enver Erion Fatmir Fatos Faton Fehmi Fisnik Flamur Florent Gazmend Gent
Gëzim Granit Hajdar Hysen Ilir Ismet Jeton Kastriot Kujtim Labinot Leotrim Liridon Lulzim Mentor Mërgim Milaim
Muhamet Naim Nexhat Petrit Qëndrim Ramadan Rexhep Rinor Rrahim Sabri Sami Shkëlzen Shpend Shpëtim Sokol
Taulant Trim Uran Valdet Valon Vehbi Veton Visar Xhavit Xhemajl Ylber Ymer Zenel Gjergj Çlirim Dritan Erblin
Fitim Haxhi Hekuran Jetmir Kushtrim Lavdim Blerand Arlind Ermal Gjon Nderim Fadil
"""
)

ALBANIAN_FEMALE = _words(
    """
Adelina Afërdita Albana Alma Anila Antigona Arbenita Arjeta Besa Besarta Blerina Blerta Bukurije Dafina
Diellza Donika Doruntina Drita Edona Elira Elona Emine Erza Fatime Fatjona Flaka Flutura Gentiana Gresa Hana
Hyrije Ilirjana Jehona Kaltrina Kimete Lindita Liridona Lule Luljeta Majlinda Merita Mimoza Nazife Njomza
Qëndresa Rina Rita Rozafa Saranda Shqipe Shpresa Teuta Valbona Vjosa Vlora Xhevahire Yllka Zana Zyrafete
Ardiana Arta Egzona Fjolla Leonora Lirie Marigona Mirjeta Nora Shkurte Vesa Venera Dhurata Gjylie Hajrije
Xhemile Ëndrita Çamile Teuta Ariana Blendina Drenusha Eliza Fitore Genta Hirije Lumturie
"""
)

ALBANIAN_FAMILY = _words(
    """
Krasniqi Gashi Berisha Morina Shala Hoxha Bytyqi Kastrati Rexhepi Hasani Ahmeti Sadiku Kelmendi Thaçi Rugova
Haradinaj Limaj Hyseni Mustafa Bajrami Zeqiri Osmani Gjoka Jashari Kryeziu Mehmeti Halimi Salihu Beqiri Musliu
Sylejmani Syla Istrefi Dervishi Ismaili Maloku Ibrahimi Avdiu Gjonbalaj Shehu Çeku Dushi Hajdari Zogaj
Gërvalla Kurti Bislimi Rama Dema Hysenaj Xhaferi Qerimi Nimani Zymberi Latifi Fazliu Berbatovci Bajraktari
Gjinovci Prenku Dobruna Shabani Tahiri Murati Emini Aliu Ramadani Selimi Veseli Lushtaku Bekteshi Hoti Dreshaj
Lleshi Brahimi Kadriu Useini Jakupi Mazreku Arifi Rrustemi Zhubi Xhemaili Gjergji Pllana Sejdiu Gërguri Hamiti
Sopi Ademi Demaku Kamberi Buja Bunjaku Lila Daci Këpuska Pacolli Rashiti Shatri Topalli Vokshi Zeka Thaqi
Bërisha Hajrizi Nuhiu Fejzullahu Kuçi Gjikolli Marku Shkodra Dibra Leka Malaj Krasniçi Dedaj Nikaj Përvizi
Spahiu Xhelili Gjinaj Qorri Zhuri Çitaku Tërnava
"""
)

# Many Albanian family names are a forefather's given name with -i or -aj
# (Ademi, Hasanaj); these fill the long tail of rarer family names.
PATRONYMIC_FAMILY = sorted(
    {m.rstrip("ë") + suffix for m in ALBANIAN_MALE[:90] for suffix in ("i", "aj") if m[-1] not in "aeiouy"}
    - set(ALBANIAN_FAMILY)
)

SERBIAN_MALE = _words(
    """
Marko Nikola Stefan Miloš Dragan Zoran Nenad Dejan Goran Milan Aleksandar Vladimir Đorđe Dušan Ivan Luka
Nemanja Saša Predrag Slobodan Bojan Žarko Miroslav Srđan Vuk Darko Uroš Vojislav Ljubomir Čedomir
"""
)

SERBIAN_FEMALE = _words(
    """
Jelena Milica Ana Marija Jovana Ivana Dragana Snežana Vesna Tijana Svetlana Maja Nataša Biljana Gordana
Danijela Sanja Ljiljana Tamara Katarina Mirjana Slađana Dušica Zorica Jasmina
"""
)

SERBIAN_FAMILY = _words(
    """
Jovanović Petrović Nikolić Marković Đorđević Stojanović Ilić Stanković Pavlović Milošević Todorović Đurić
Kostić Ristić Živković Savić Mitić Lazić Popović Radović Simić Vasić Tomić Janković Mladenović Čolić Vučković
Šarić Ćirić Đokić Milić Perić Bošković Lukić Nešić Obradović Jakšić Zdravković
"""
)

# Origin countries (XK = Kosovo) and the share of registrants from each.
ORIGINS = {"XK": 0.62, "AL": 0.22, "MK": 0.08, "RS": 0.05, "ME": 0.03}
# Share of people of each origin who carry Serbian names.
SERBIAN_SHARE = {"XK": 0.04, "RS": 0.35, "ME": 0.25, "MK": 0.05, "AL": 0.0}

MUNICIPALITIES = {
    "prishtine": 18,
    "prizren": 16,
    "ferizaj": 9,
    "peje": 8,
    "gjakove": 8,
    "gjilan": 8,
    "podujeve": 7,
    "mitrovice": 6,
    "vushtrri": 6,
    "suhareke": 5,
    "rahovec": 5,
    "gllogoc": 5,
    "lipjan": 5,
    "malisheve": 5,
    "skenderaj": 5,
    "kamenice": 3,
    "viti": 4,
    "decan": 3,
    "istog": 3,
    "kline": 3,
    "fushe_kosove": 3,
    "dragash": 3,
    "kacanik": 3,
    "obiliq": 2,
    "shtime": 2,
    "novoberde": 1,
    "junik": 1,
    "hani_i_elezit": 1,
    "mamushe": 1,
    "gracanice": 1,
    "leposaviq": 1,
    "zvecan": 1,
    "zubin_potok": 1,
    "mitrovice_veriut": 1,
    "shterpce": 1,
    "kllokot": 1,
    "partesh": 1,
    "ranillug": 1,
}
SERBIAN_MUNICIPALITIES = (
    "gracanice",
    "leposaviq",
    "zvecan",
    "zubin_potok",
    "mitrovice_veriut",
    "shterpce",
    "kllokot",
    "partesh",
    "ranillug",
    "novoberde",
)

RESIDENCES = {
    "DE": 300,
    "CH": 180,
    "IT": 80,
    "US": 70,
    "AT": 60,
    "SE": 50,
    "GB": 50,
    "FR": 40,
    "BE": 30,
    "GR": 25,
    "NL": 20,
    "CA": 15,
    "NO": 15,
    "DK": 10,
    "FI": 10,
    "SI": 10,
    "HR": 8,
    "TR": 7,
    "AU": 7,
    "IE": 5,
    "CZ": 3,
    "LU": 4,
    "ES": 3,
    "PL": 1.5,
    "HU": 1.5,
    "PT": 1,
    "AE": 2,
    "QA": 1,
    "SA": 0.5,
    "RU": 0.5,
    "CN": 0.3,
    "JP": 0.2,
    "BR": 0.3,
    "ZA": 0.2,
    "NZ": 0.4,
    "IS": 0.1,
    "MT": 0.3,
    "CY": 0.3,
    "EE": 0.1,
    "LT": 0.1,
    "LV": 0.1,
    "SK": 0.5,
    "RO": 0.5,
    "BG": 0.6,
    "BA": 2,
    "ME": 2,
    "MK": 3,
    "AL": 6,
    "RS": 2,
    "IL": 0.2,
    "EG": 0.1,
    "AR": 0.1,
    "MX": 0.1,
    "SG": 0.1,
    "KR": 0.05,
    "IN": 0.05,
    "TH": 0.05,
    "MC": 0.05,
    "LI": 0.3,
}

CITIES = {
    "DE": ["Berlin", "München", "Stuttgart", "Frankfurt am Main", "Köln", "Düsseldorf", "Hamburg", "Nürnberg"],
    "CH": ["Zürich", "Genève", "Basel", "Bern", "Lausanne", "Winterthur", "St. Gallen", "Luzern"],
    "IT": ["Milano", "Roma", "Torino", "Firenze", "Bologna"],
    "US": ["New York", "Detroit", "Chicago", "Boston", "Staten Island"],
    "AT": ["Wien", "Graz", "Linz", "Salzburg"],
    "SE": ["Stockholm", "Göteborg", "Malmö"],
    "GB": ["London", "Manchester", "Birmingham"],
    "FR": ["Paris", "Lyon", "Strasbourg"],
}

FIRST_LANGUAGE = {"XK": "sq", "AL": "sq", "MK": "sq", "RS": "sr", "ME": "sr"}
RESIDENCE_LANGUAGE = {
    "DE": "de",
    "CH": "de",
    "AT": "de",
    "IT": "it",
    "US": "en",
    "GB": "en",
    "CA": "en",
    "AU": "en",
    "IE": "en",
    "NZ": "en",
    "SE": "sv",
    "FR": "fr",
    "BE": "fr",
    "NL": "nl",
    "NO": "nb",
    "DK": "da",
    "FI": "fi",
    "GR": "el",
    "TR": "tr",
    "SI": "sl",
    "HR": "hr",
}
PROFESSIONS = _words(
    """
Ingenieur nurse mjeke software developer kamarier Elektriker student teacher
"""
)
